#include "cli/app.h"

#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace ms::cli {

int run(int argc, char** argv) {
  CLI::App app{"Marrowscope: find, classify and count nucleated cells in smear fields"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "marrowscope 0.1.0");
  register_info(app);
  register_serve(app);
  register_worker(app);
  register_train_detector(app);
  register_eval_detector(app);
  register_detect(app);
  register_convert(app);
  register_stats(app);
  register_train_classifier(app);
  register_classify(app);
  register_explain(app);
  register_fit_atypical(app);
  register_calibrate_int8(app);
  register_adapt(app);
  register_analyze(app);
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const MarrowError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ms::cli
