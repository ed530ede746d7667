#pragma once
// The `marrowscope` command line: one binary, one subcommand per task. Each command lives in its
// own cmd_<name>.cpp and registers itself in app.cpp.
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ms::cli {
// Parses and runs; returns the process exit status. Never throws.
int run(int argc, char** argv);

// Registration functions (one per cmd_*.cpp).
void register_info(CLI::App& app);
void register_serve(CLI::App& app);
void register_worker(CLI::App& app);
void register_train_detector(CLI::App& app);
void register_eval_detector(CLI::App& app);
void register_detect(CLI::App& app);
void register_convert(CLI::App& app);
void register_stats(CLI::App& app);
void register_train_classifier(CLI::App& app);
void register_classify(CLI::App& app);  // classify + eval-classifier
void register_explain(CLI::App& app);
void register_fit_atypical(CLI::App& app);
void register_calibrate_int8(CLI::App& app);
void register_adapt(CLI::App& app);

// The shipped classifier folder (core/paths.h default_model_dir("classifier")).
std::string default_classifier_dir();
void register_analyze(CLI::App& app);
// An image file name, by extension (case-insensitive): .png .jpg .jpeg .bmp .tif .tiff.
bool has_image_extension(const std::string& path);
}  // namespace ms::cli
