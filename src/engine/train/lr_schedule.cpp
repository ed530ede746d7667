#include "engine/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ms {

double lr_factor(const LrScheduleOptions& o, int64_t step, int64_t steps_per_epoch,
                 int64_t total_epochs) {
  MS_CHECK(steps_per_epoch > 0 && total_epochs > 0 && step >= 0, "lr_factor: bad step counts");
  const double total = static_cast<double>(steps_per_epoch * total_epochs);
  const double warmup = std::max(0.0, o.warmup_epochs) * steps_per_epoch;
  const double s = static_cast<double>(step);
  if (s < warmup) return (s + 1) / warmup;
  switch (o.decay) {
    case LrDecay::kConstant:
      return 1.0;
    case LrDecay::kStep: {
      const double epoch = s / steps_per_epoch;
      double f = 1.0;
      for (double e : o.step_epochs)
        if (epoch >= e) f *= o.gamma;
      return f;
    }
    case LrDecay::kCosine: {
      const double span = std::max(1.0, total - warmup);
      const double t = std::clamp((s - warmup) / span, 0.0, 1.0);
      return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * t));
    }
  }
  return 1.0;
}

}  // namespace ms
