#!/usr/bin/python3
"""Golden reference outputs for the detector parts, from torchvision 0.14 (Debian python3-torchvision).

Run with Debian's interpreter (the python3 first on PATH may lack torch):
    /usr/bin/python3 tools/gen_detector_golden.py
writes tests/golden/detector/*.json, read by tests/unit/models/detector/golden_test.cpp.
Inputs are generated here from a fixed seed and stored beside the outputs, so the C++ side
recomputes from exactly the same numbers. Floats are written with 9 significant digits (exact
float32 round trip).
"""
import json
import math
import os
import sys

import torch
import torchvision
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import (batched_nms, box_iou, generalized_box_iou, generalized_box_iou_loss,
                             nms, sigmoid_focal_loss)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "detector")


def floats(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def write(name, obj):
    obj["generator"] = "tools/gen_detector_golden.py (torch %s, torchvision %s)" % (
        torch.__version__, torchvision.__version__)
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def random_boxes(g, n, lo=0.0, hi=100.0, min_size=2.0, max_size=40.0):
    xy = torch.rand(n, 2, generator=g) * (hi - lo) + lo
    wh = torch.rand(n, 2, generator=g) * (max_size - min_size) + min_size
    return torch.cat([xy, xy + wh], 1)


def anchors():
    # RetinaNet's torchvision sizes per level: (x, int(x*2^(1/3)), int(x*2^(2/3))). Our generator
    # takes one base size per level and relative scales, so the same anchors are sizes=[32, 64, ...],
    # scales=[1, 40/32, 50/32] (the integer sizes are exact multiples).
    sizes = tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in [32, 64, 128, 256, 512])
    ratios = ((0.5, 1.0, 2.0),) * 5
    gen = AnchorGenerator(sizes, ratios)
    base = [floats(b) for b in gen.cell_anchors]
    # Full grid on a small input with two levels (strides 8 and 16) and float sizes 2^(k/3).
    img_h, img_w = 32, 48
    fsizes = (tuple(32 * 2 ** (k / 3.0) for k in range(3)), tuple(64 * 2 ** (k / 3.0) for k in range(3)))
    gen2 = AnchorGenerator(fsizes, ((0.5, 1.0, 2.0),) * 2)
    images = ImageList(torch.zeros(1, 3, img_h, img_w), [(img_h, img_w)])
    feats = [torch.zeros(1, 1, img_h // 8, img_w // 8), torch.zeros(1, 1, img_h // 16, img_w // 16)]
    grid = gen2(images, feats)[0]
    write("anchors.json", {
        "torchvision_sizes": [list(s) for s in sizes],
        "base_anchors": base,
        "grid": {"image": [img_h, img_w], "levels": [3, 4], "sizes": [32.0, 64.0],
                 "feature_sizes": [[f.shape[2], f.shape[3]] for f in feats], "anchors": floats(grid)},
    })


def box_coder(g):
    anchors_ = random_boxes(g, 24)
    gt = random_boxes(g, 24)
    deltas = torch.randn(24, 4, generator=g)
    deltas[:3, 2:] = torch.tensor([[5.0, 6.0], [-7.0, 4.2], [9.0, 0.0]])  # exercise the clamp
    cases = []
    for w in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
        coder = BoxCoder(w)
        cases.append({"weights": list(w), "clamp": coder.bbox_xform_clip,
                      "encoded": floats(coder.encode_single(gt, anchors_)),
                      "decoded": floats(coder.decode_single(deltas, anchors_))})
    write("box_coder.json", {"anchors": floats(anchors_), "boxes": floats(gt), "deltas": floats(deltas),
                             "cases": cases})


def focal(g):
    logits = torch.randn(8, 3, generator=g) * 3
    logits[0, 0] = 20.0  # saturated: exercises the numerically stable BCE
    logits[1, 1] = -20.0
    targets = (torch.rand(8, 3, generator=g) > 0.7).float()
    targets[0, 0] = 0.0
    targets[1, 1] = 1.0
    cases = []
    for alpha, gamma in [(0.25, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.25, 1.5)]:
        cases.append({"alpha": alpha, "gamma": gamma,
                      "loss": floats(sigmoid_focal_loss(logits, targets, alpha, gamma, "none"))})
    write("focal_loss.json", {"shape": [8, 3], "logits": floats(logits), "targets": floats(targets),
                              "cases": cases})


def giou(g):
    a = random_boxes(g, 6, max_size=60.0)
    b = random_boxes(g, 5, max_size=60.0)
    b[0] = a[0]  # identical pair
    pred = random_boxes(g, 10, max_size=60.0)
    target = random_boxes(g, 10, max_size=60.0)
    target[0] = pred[0]                                   # GIoU 1
    target[1] = torch.tensor([200.0, 200.0, 230.0, 210.0])  # disjoint, far away
    pred[2] = torch.tensor([10.0, 10.0, 10.0, 30.0])       # degenerate (zero width)
    write("giou.json", {
        "a": floats(a), "b": floats(b),
        "pairwise_iou": floats(box_iou(a, b)), "pairwise_giou": floats(generalized_box_iou(a, b)),
        "pred": floats(pred), "target": floats(target),
        "giou_loss": floats(generalized_box_iou_loss(pred, target, reduction="none")),
    })


def nms_cases(g):
    cases = []
    # Clustered boxes with tied scores (rounded to one decimal) so the order of equal scores matters.
    centres = torch.rand(6, 2, generator=g) * 80
    boxes = []
    for c in centres:
        for _ in range(8):
            jitter = torch.randn(4, generator=g) * 3
            boxes.append(torch.cat([c, c + 20]) + jitter)
    boxes = torch.stack(boxes)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = (torch.rand(len(boxes), generator=g) * 10).round() / 10
    groups = torch.randint(0, 3, (len(boxes),), generator=g)
    for thr in [0.3, 0.5, 0.7]:
        cases.append({"name": "clusters_%.1f" % thr, "boxes": floats(boxes), "scores": floats(scores),
                      "threshold": thr, "keep": nms(boxes, scores, thr).tolist(),
                      "groups": groups.tolist(), "batched_keep": batched_nms(boxes, scores, groups, thr).tolist()})
    # Exact ties: identical boxes and identical scores; the lower index must win.
    same = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 3 + [[5.0, 0.0, 15.0, 10.0]])
    s = torch.tensor([0.5, 0.5, 0.5, 0.5])
    cases.append({"name": "identical", "boxes": floats(same), "scores": floats(s), "threshold": 0.5,
                  "keep": nms(same, s, 0.5).tolist(), "groups": [0, 1, 0, 1],
                  "batched_keep": batched_nms(same, s, torch.tensor([0, 1, 0, 1]), 0.5).tolist()})
    # IoU exactly 1/3 against threshold 1/3 (suppression needs strictly greater).
    edge = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]])
    cases.append({"name": "threshold_equal", "boxes": floats(edge), "scores": [0.9, 0.8],
                  "threshold": 1.0 / 3.0, "keep": nms(edge, torch.tensor([0.9, 0.8]), 1.0 / 3.0).tolist(),
                  "groups": [0, 0], "batched_keep": [0]})
    e = torch.zeros(0, 4)
    cases.append({"name": "empty", "boxes": [], "scores": [], "threshold": 0.5,
                  "keep": nms(e, torch.zeros(0), 0.5).tolist(), "groups": [],
                  "batched_keep": batched_nms(e, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).tolist()})
    write("nms.json", {"cases": cases})


def main():
    if not torchvision.__version__.startswith("0.14"):
        print("warning: golden files are meant to come from torchvision 0.14, found %s" % torchvision.__version__,
              file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20240613)
    anchors()
    box_coder(g)
    focal(g)
    giou(g)
    nms_cases(g)
    for f in sorted(os.listdir(OUT)):
        print("%s %d bytes" % (f, os.path.getsize(os.path.join(OUT, f))))


if __name__ == "__main__":
    main()
