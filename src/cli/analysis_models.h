#pragma once
// What `serve` and `worker` share: the analysis models' command-line options and their loading,
// and the stop signals (SIGINT, SIGTERM) taken by one thread through sigwait().
#include <signal.h>

#include <memory>
#include <string>

namespace CLI {
class App;
}
namespace ms::server {
class PipelineRunner;
}

namespace ms::cli {

struct AnalysisModelFlags {
  std::string detector, classifier, device = "cpu";
};
// --detector, --classifier, --device.
void add_analysis_model_options(CLI::App* cmd, AnalysisModelFlags& flags);
// Loads the pipeline (the shipped models/ when a folder is not given). Models that do not load
// throw with the reason and `remedy` (what else the command can be told to do): a process that
// silently analysed nothing would look healthy and count nothing.
std::shared_ptr<server::PipelineRunner> load_analysis_runner(const AnalysisModelFlags& flags,
                                                             const std::string& remedy);
// Blocks SIGINT and SIGTERM in the calling thread. Call before any thread starts, so every thread
// inherits the mask and the caller alone receives them through sigwait()/sigtimedwait().
sigset_t block_stop_signals();

}  // namespace ms::cli
