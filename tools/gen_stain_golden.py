#!/usr/bin/python3
"""Golden file for the classifier's stain standardisation and its training-lab reference
(engine/train/stain_standardise.h), made
by its training twin, stain_standardise in tools/gpu/train_robust_classifier.py, so the C++ test
holds inference equal to training. Synthetic images only (no dataset pixels enter the repo):

    /usr/bin/python3 tools/gen_stain_golden.py tests/golden/stain/standardise.json
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))
import train_robust_classifier as robust  # noqa: E402


def cell(rng, h, w, background, nucleus, pad):
    """A tinted background, a stained disc (the nucleus), noise, and `pad` black rows at the top."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.tile(np.array(background, np.float64), (h, w, 1))
    r = np.hypot(yy - h * 0.55, xx - w * 0.45)
    inside = np.clip((min(h, w) * 0.3 - r) / 2.0, 0, 1)[..., None]
    img = img * (1 - inside) + np.array(nucleus, np.float64) * inside
    img = img + rng.normal(0, 6, img.shape)
    img[:pad] = rng.integers(0, 8, (pad, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(7)
    reference = (torch.tensor([0.99, 0.89, 0.80]), torch.tensor([1.34, 2.23, 0.46]))
    cases, measured = [], []
    for name, h, w, bg, nu, pad in [("pbc-like", 23, 19, (252, 226, 204), (70, 40, 120), 0),
                                    ("yellow background, brown nucleus, black padding", 20, 26,
                                     (240, 232, 150), (150, 70, 60), 3),
                                    ("almost no stain", 16, 16, (250, 250, 250), (238, 236, 240), 0)]:
        img = cell(rng, h, w, bg, nu, pad)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        y = robust.stain_standardise(x, *reference)[0]
        bg, _, q = robust.stain_measure(x)
        measured.append((bg[0], q[0, :, 0]))
        cases.append({"name": name, "height": h, "width": w, "rgb": img.reshape(-1).tolist(),
                      "expected_background": bg[0].tolist(), "expected_od_quantile": q[0, :, 0].tolist(),
                      "expected_rgb_planes": [round(float(v), 6) for v in y.reshape(-1)]})
    s = {k: v for k, v in [("black_sum", robust.STAIN_BLACK), ("background_quantile", robust.STAIN_BG_Q),
                           ("od_quantile", robust.STAIN_OD_Q), ("min_background", robust.STAIN_MIN_BG),
                           ("min_od", robust.STAIN_MIN_OD)]}
    out = {"standardisation": dict(background=reference[0].tolist(), od_p99=reference[1].tolist(), **s),
           "cases": cases,
           # what a training set of these three images gives as its reference (lower medians)
           "reference_of_cases": {"background": torch.stack([m[0] for m in measured]).median(0).values.tolist(),
                                  "od_p99": torch.stack([m[1] for m in measured]).median(0).values.tolist()}}
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
