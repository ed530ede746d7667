#include "cli/analysis_models.h"

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "core/paths.h"
#include "models/runtime.h"
#include "server/pipeline_runner.h"

namespace ms::cli {

void add_analysis_model_options(CLI::App* cmd, AnalysisModelFlags& flags) {
  cmd->add_option("--detector", flags.detector, "Detector model folder (default: the shipped models/detector)");
  cmd->add_option("--classifier", flags.classifier, "Classifier model folder (default: the shipped models/classifier)");
  cmd->add_option("--device", flags.device, "Inference device: cpu or cuda[:N]")->capture_default_str();
}

std::shared_ptr<server::PipelineRunner> load_analysis_runner(const AnalysisModelFlags& flags,
                                                             const std::string& remedy) {
  init_torch_runtime();
  const std::string det = flags.detector.empty() ? default_model_dir("detector") : flags.detector;
  const std::string cls = flags.classifier.empty() ? default_model_dir("classifier") : flags.classifier;
  auto loaded = server::PipelineRunner::load(det, cls, {}, flags.device);
  if (!loaded)
    throw MarrowError(loaded.error().code, "cannot load the analysis models (" + loaded.error().message +
                                               "); point --detector / --classifier or MARROWSCOPE_MODELS "
                                               "at model folders" +
                                               (remedy.empty() ? "" : ", or " + remedy));
  return *loaded;
}

sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

}  // namespace ms::cli
