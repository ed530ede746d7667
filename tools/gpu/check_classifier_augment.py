#!/usr/bin/python3
"""Checks of the device-side augmentation of tools/gpu/train_vit_classifier.py against exact
references (CPU, a second): with everything else off, the affine warp must reproduce the identity,
a horizontal/vertical flip, a quarter turn and an integer-offset crop to within float rounding;
the hue rotation must match colorsys's HSV round trip; the closed-form affine inverse must match
torch.linalg.inv. Exits 1 on any mismatch.

    /usr/bin/python3 tools/gpu/check_classifier_augment.py
"""
import colorsys
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_vit_classifier import AUGMENT_DEFAULTS, affine_inverse, augment, hue_shift  # noqa: E402


def main():
    torch.manual_seed(0)
    g = torch.Generator()
    g.manual_seed(0)
    x = torch.rand(6, 3, 20, 20)
    off = dict(AUGMENT_DEFAULTS, hflip=0, vflip=0, rot90=0)
    tol = 1e-5
    errors = {
        "identity": (augment(x, off, 20, g) - x).abs().max().item(),
        "hflip": (augment(x, dict(off, hflip=1), 20, g) - x.flip(-1)).abs().max().item(),
        "vflip": (augment(x, dict(off, vflip=1), 20, g) - x.flip(-2)).abs().max().item(),
    }
    y = augment(x, dict(off, rot90=1), 20, g)
    errors["rot90"] = max(min((y[i] - torch.rot90(x[i], k, (1, 2))).abs().max().item() for k in (1, 2, 3))
                          for i in range(len(x)))
    y = augment(x, off, 16, g)
    errors["crop"] = max(min((y[i] - x[i, :, oy:oy + 16, ox:ox + 16]).abs().max().item()
                             for oy in range(5) for ox in range(5)) for i in range(len(x)))
    shifts = [0.0, 30.0, -50.0, 200.0, 360.0, -6.0]
    h = hue_shift(x, torch.tensor(shifts))
    worst = 0.0
    for i, s in enumerate(shifts):
        for yy, xx in ((0, 0), (3, 4), (19, 7)):
            r, gg, b = x[i, :, yy, xx].tolist()
            hh, ss, vv = colorsys.rgb_to_hsv(r, gg, b)
            ref = colorsys.hsv_to_rgb((hh + s / 360.0) % 1.0, ss, vv)
            worst = max(worst, max(abs(p - q) for p, q in zip(h[i, :, yy, xx].tolist(), ref)))
    errors["hue"] = worst
    m = torch.eye(3).repeat(5, 1, 1)
    m[:, :2] = torch.randn(5, 2, 3)
    errors["affine_inverse"] = (affine_inverse(m) - torch.linalg.inv(m)).abs().max().item()
    bad = {k: v for k, v in errors.items() if not v <= tol}
    for k, v in errors.items():
        print("%-15s max error %.2e" % (k, v))
    print("augment checks %s" % ("FAILED: " + ", ".join(bad) if bad else "OK"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
