"""ms::lr_factor (src/engine/train/lr_schedule.cpp) for the GPU trainers: linear warm-up, then
constant, step (x gamma at each listed epoch) or cosine down to min_lr_ratio."""
import math


def lr_factor(s, step, steps_per_epoch, total_epochs):
    total = float(steps_per_epoch * total_epochs)
    warmup = max(0.0, s["warmup_epochs"]) * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    if s["decay"] == "constant":
        return 1.0
    if s["decay"] == "step":
        epoch = step / steps_per_epoch
        f = 1.0
        for e in s["step_epochs"]:
            if epoch >= e:
                f *= s["gamma"]
        return f
    t = min(max((step - warmup) / max(1.0, total - warmup), 0.0), 1.0)
    return s["min_lr_ratio"] + (1 - s["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * t))
