#pragma once
// Learning-rate schedule as a pure function of the global step, so a resumed run continues on
// exactly the same curve: linear warm-up (Goyal et al. 2017) then constant, step decay, or
// cosine decay (Loshchilov & Hutter, SGDR, ICLR 2017) to min_lr_ratio * base.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ms {

enum class LrDecay { kConstant, kStep, kCosine };
inline const std::vector<std::pair<LrDecay, std::string>>& enum_names(LrDecay) {
  static const std::vector<std::pair<LrDecay, std::string>> n{
      {LrDecay::kConstant, "constant"}, {LrDecay::kStep, "step"}, {LrDecay::kCosine, "cosine"}};
  return n;
}

struct LrScheduleOptions {
  LrDecay decay = LrDecay::kCosine;
  double warmup_epochs = 1.0;
  std::vector<double> step_epochs{};  // kStep: multiply by gamma at each of these epochs
  double gamma = 0.1;
  double min_lr_ratio = 0.01;         // kCosine: floor as a fraction of the base rate
  template <class V>
  void visit(V& v) {
    v("decay", decay); v("warmup_epochs", warmup_epochs); v("step_epochs", step_epochs);
    v("gamma", gamma); v("min_lr_ratio", min_lr_ratio);
  }
};

// Multiplier of the base learning rate before optimiser step `step` (0-based), for a run of
// total_epochs epochs of steps_per_epoch steps. Warm-up ramps (step+1)/warmup_steps up to 1.
double lr_factor(const LrScheduleOptions& o, int64_t step, int64_t steps_per_epoch,
                 int64_t total_epochs);

}  // namespace ms
