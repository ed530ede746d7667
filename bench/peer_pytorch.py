#!/usr/bin/python3
"""The shipped classifier and detector in C++ against the same networks in PyTorch eager from
Python, in one run, as ratios.

    /usr/bin/python3 bench/peer_pytorch.py [--threads 1 2] [--precision fp32 bf16] [--build build]
                                           [--seconds 3] [--json OUT]

Both sides take the same inputs and do the same work, with the same weights and thread count:
  classifier: 32 (and 1) random 360 x 360 8-bit cells -> resized to the model's cache side (area),
              centre-cropped, normalised (and stain-standardised when the model is), one forward,
              softmax (1 view). C++: bench_classifier_speed (ClassifierPredictor::classify, the
              pipeline's call). Python: the tools/gpu/train_cnn_classifier.py mirror.
  detector:   the first 575 x 575 txl-pbc val field -> letterboxed to the model's input, normalised,
              forward, decoded and NMS-ed. C++: bench_detector_forward's BM_ShippedDetector
              (DetectorPredictor::detect). Python: the tools/gpu/detector_mirror.py mirror.
bf16: the C++ side runs with MARROWSCOPE_PRECISION=bf16 (autocast, models/runtime.h), Python under
torch.autocast("cpu", dtype=torch.bfloat16): the same mechanism on both sides.
auto: the C++ side as shipped (MARROWSCOPE_PRECISION=auto: the detector's backbone in int8 from its
calibration, the classifier in bf16), Python under bf16 autocast: what each gives without more work.
Python times whole calls (preprocessing included) with time.perf_counter over --seconds after one
warm-up call; C++ reports Google Benchmark's real time. Needs Debian's python3-torch and python3-pil,
and the two bench binaries (cmake --build build --target bench_classifier_speed bench_detector_forward).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "gpu"))
import detector_mirror as dm  # noqa: E402
import train_robust_classifier as robust  # noqa: E402
from train_cnn_classifier import CnnClassifier  # noqa: E402


def load_state(module, folder):
    net = torch.jit.load(os.path.join(folder, "model.pt"), map_location="cpu")
    module.load_state_dict({k: v for k, v in list(net.named_parameters()) + list(net.named_buffers())})
    return module.eval()


PRECISION = {"value": "fp32"}


def timed(fn, seconds):
    if PRECISION["value"] in ("bf16", "auto"):
        plain = fn

        def fn():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return plain()
    fn()  # warm-up: first-call allocations
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def python_classifier(folder, batch, seconds):
    info = json.load(open(os.path.join(folder, "model.json")))
    inp = info["model"]["input_size"]
    side = int(round(inp / info["crop_fraction"]))
    mean = torch.tensor(info["normalization"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(info["normalization"]["std"]).view(1, 3, 1, 1)
    st = info["normalization"].get("stain_standardisation")
    stain = (torch.tensor(st["background"]), torch.tensor(st["od_p99"])) if st else None
    model = load_state(CnnClassifier(info["model"]["cnn"]["backbone"]["width"], len(info["classes"]), 0.0), folder)
    rng = np.random.default_rng(1)
    cells = [rng.integers(0, 256, (360, 360, 3), dtype=np.uint8) for _ in range(batch)]

    def call():
        # What a user writes: PIL resizes the 8-bit cells (box filter, like OpenCV's INTER_AREA), then
        # one float batch is cropped, normalised, classified.
        small = np.stack([np.asarray(Image.fromarray(c).resize((side, side), Image.BOX)) for c in cells])
        with torch.no_grad():
            x = robust.centre(torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255, inp)
            if stain is not None:
                x = robust.stain_standardise(x, *stain)
            return F.softmax(model((x - mean) / std), 1)

    x = torch.randn(batch, 3, inp, inp, generator=torch.Generator().manual_seed(1))

    def forward():
        with torch.no_grad():
            return model(x)
    return timed(call, seconds) * batch, timed(forward, seconds) * batch


def first_field(val):
    for name in sorted(os.listdir(val)):
        im = Image.open(os.path.join(val, name)).convert("RGB")
        if im.size == (575, 575):
            return np.array(im)
    raise SystemExit("no 575 x 575 field in " + val)


def python_detector(folder, field, seconds):
    info = json.load(open(os.path.join(folder, "model.json")))
    m = dm.merge_config({"model": info["model"]})["model"]
    net = load_state(dm.DetectorNet(m), folder)
    size = m["input_size"]
    mean = torch.tensor(m["pixel_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(m["pixel_std"]).view(1, 3, 1, 1)
    h, w = field.shape[:2]
    lb = dm.Letterbox(w, h, size, size)

    nw, nh = int(np.floor(w * lb.scale + 0.5)), int(np.floor(h * lb.scale + 0.5))

    def call():
        small = np.asarray(Image.fromarray(field).resize((nw, nh), Image.BILINEAR))
        with torch.no_grad():
            canvas = torch.zeros(1, 3, size, size)
            canvas[0, :, int(lb.pad_y):int(lb.pad_y) + nh, int(lb.pad_x):int(lb.pad_x) + nw] = \
                torch.from_numpy(small).permute(2, 0, 1).float() / 255
            cls, box, iou, anchors, per_level, _, (ph, pw) = net((canvas - mean) / std)
            return dm.postprocess(m["postprocess"], net.coder, cls, box, iou, anchors, per_level, ph, pw, [lb])

    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))

    def forward():
        with torch.no_grad():
            return net(x)
    return timed(call, seconds), timed(forward, seconds)


def cpp(binary, flt, seconds):
    env = dict(os.environ, MARROWSCOPE_PRECISION=PRECISION["value"])
    out = subprocess.run([binary, "--benchmark_filter=" + flt, "--benchmark_format=json",
                          "--benchmark_min_time=%g" % seconds], check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, cwd=ROOT, universal_newlines=True, env=env).stdout
    runs = json.loads(out)["benchmarks"]
    if not runs or runs[0].get("error_occurred"):
        raise SystemExit("%s %s: %s" % (binary, flt, runs[0].get("error_message") if runs else "no run"))
    return runs[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "auto"])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    torch.set_flush_denormal(True)
    cls_dir, det_dir = os.path.join(ROOT, "models", "classifier"), os.path.join(ROOT, "models", "detector")
    field = first_field(os.path.join(ROOT, "..", "shared", "data", "txl-pbc", "images", "val"))
    rows = []
    for t, precision in [(t, p) for p in a.precision for t in a.threads]:
        torch.set_num_threads(t)
        PRECISION["value"] = precision
        cls_bin = os.path.join(a.build, "bench_classifier_speed")
        det_bin = os.path.join(a.build, "bench_detector_forward")
        for batch in (32, 1):
            call, fwd = python_classifier(cls_dir, batch, a.seconds)
            # bench_classifier_speed's args: model 0 (shipped), batch, threads, views
            c = cpp(cls_bin, "BM_ClassifierSpeed/0/%d/%d/1/" % (batch, t), a.seconds)
            rows.append({"what": "classifier call, batch %d, 1 view" % batch, "threads": t, "precision": precision, "unit": "cells/s",
                         "cpp": c["cells_per_s"], "python": call})
            c = cpp(cls_bin, "BM_ShippedClassifierForward/%d/%d/" % (batch, t), a.seconds)
            rows.append({"what": "classifier forward only, batch %d" % batch, "threads": t, "precision": precision, "unit": "cells/s",
                         "cpp": c["cells_per_s"], "python": fwd})
        call, fwd = python_detector(det_dir, field, a.seconds)
        d = cpp(det_bin, "BM_ShippedDetector/%d/" % t, a.seconds)
        rows.append({"what": "detector call, one 575 px field", "threads": t, "precision": precision, "unit": "fields/s",
                     "cpp": d["items_per_second"], "python": call})
        d = cpp(det_bin, "BM_ShippedDetectorForward/%d/" % t, a.seconds)
        rows.append({"what": "detector forward only", "threads": t, "precision": precision, "unit": "fields/s",
                     "cpp": d["items_per_second"], "python": fwd})
    print("| what | precision | threads | C++ | PyTorch eager (Python) | C++ / Python |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        r["ratio"] = r["cpp"] / r["python"]
        print("| %s | %s | %d | %.1f %s | %.1f %s | **%.2fx** |" % (
            r["what"], r["precision"], r["threads"], r["cpp"], r["unit"], r["python"], r["unit"], r["ratio"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "torch": torch.__version__, "threads": a.threads, "precision": a.precision}, f,
                      indent=1)


if __name__ == "__main__":
    main()
