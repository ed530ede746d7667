#!/usr/bin/python3
"""Parity check: the PyTorch mirror (tools/gpu/detector_mirror.py) against the C++ detector.

For each config: builds the mirror network with random weights (every parameter and BatchNorm
statistic randomised, class and IoU biases at 0 so hundreds of boxes pass the score threshold),
writes them as a GPU run would (weights.npz + summary.json), imports them with
tools/gpu/import_detector_weights.py (template made by the C++ trainer), runs the C++
`marrowscope detect --json --min-score 0` and the mirror's forward + post-processing on the same
synthetic fields that are already at the input size (so no resize can differ), and compares every
detection: class, score, box. Exits 1 when anything differs beyond the tolerances.

    /usr/bin/python3 tools/gpu/check_detector_mirror.py [--binary build/marrowscope] \
        [--configs configs/detector/baseline.json,configs/detector/pa_iou.json] [--size 128]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError:  # ctest: SKIP_RETURN_CODE 77 (this interpreter has no torch)
    print("skipped: %s has no torch" % sys.executable)
    sys.exit(77)
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import detector_mirror as dm  # noqa: E402


def randomise(net, gen):
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) * 1.5 + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.dim() == 1:  # norm weights
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
        net.head.cls_out.bias.zero_()
        if net.head.iou_out is not None:
            net.head.iou_out.bias.zero_()


def fields(size, n, rng):
    """Smear-like synthetic fields: light background, a few dark discs."""
    out = []
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(n):
        img = np.zeros((size, size, 3), np.float32) + rng.uniform(180, 230, 3)
        for _ in range(rng.integers(2, 6)):
            cx, cy, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 16, size / 5)
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            img[mask] = rng.uniform(40, 160, 3)
        img += rng.normal(0, 6, img.shape)
        out.append(np.clip(img, 0, 255).round().astype(np.uint8))
    return out


def check(config_path, binary, size, work, n_images, tol_score, tol_box, skip_detect=False):
    cfg = dm.merge_config(json.load(open(config_path)))
    cfg["model"]["input_size"] = size
    torch.manual_seed(0)
    net = dm.DetectorNet(cfg["model"]).eval()
    randomise(net, torch.Generator().manual_seed(1))
    run = os.path.join(work, "run")
    os.makedirs(run, exist_ok=True)
    np.savez(os.path.join(run, "weights.npz"), **{k: v.numpy() for k, v in net.state_dict().items()})
    summary = {"config": cfg, "classes": cfg["model"]["classes"], "input_size": size, "torch": torch.__version__,
               "device": "cpu", "pack": "synthetic", "pack_side": size, "epochs_done": 0, "epochs_planned": 0,
               "epochs_auto": False, "cut_short": False, "train_seconds": 0, "train_images_per_second": 0,
               "weights_dtype": "float32", "val": None}
    json.dump(summary, open(os.path.join(run, "summary.json"), "w"))
    model = os.path.join(work, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "import_detector_weights.py"), "--run", run, "--out", model,
                    "--version", "parity", "--command", "check_detector_mirror.py", "--binary", binary],
                   check=True, stdout=subprocess.DEVNULL)
    rng = np.random.default_rng(7)
    paths = []
    for i, img in enumerate(fields(size, n_images, rng)):
        p = os.path.join(work, "field%d.png" % i)
        Image.fromarray(img).save(p)
        paths.append(p)
    m = cfg["model"]
    mean = torch.tensor(m["pixel_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(m["pixel_std"]).view(1, 3, 1, 1)
    mirror = []
    for p in paths:
        x = torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            cls, box, iou, anchors, per_level, _, (ph, pw) = net((x - mean) / std)
        mirror.append(dm.postprocess(m["postprocess"], net.coder, cls, box, iou, anchors, per_level, ph, pw,
                                     [dm.Letterbox(size, size, size, size)])[0])
    name = os.path.basename(config_path)
    total = sum(len(d) for d in mirror)
    if total == 0:
        print("%s: the mirror found no detections at all: the check would prove nothing" % name)
        return False
    ok = eval_parity(name, binary, model, work, paths, mirror, m["classes"], size)
    if skip_detect:
        return ok
    return detect_parity(name, binary, model, paths, mirror, size, tol_score, tol_box) and ok


def eval_parity(name, binary, model, work, paths, mirror, classes, size):
    """C++ eval-detector on a YOLO set whose ground truth is the mirror's own detections: its AP,
    AR and per-class numbers must equal those of the mirror's detections scored by the Python
    metric mirror (about 1 when both sides agree; a drifted network loses matches at high IoU)."""
    sys.path.insert(0, HERE)
    import train_detector as td
    data = os.path.join(work, "yolo")
    for d in ("images/val", "labels/val"):
        os.makedirs(os.path.join(data, d), exist_ok=True)
    with open(os.path.join(data, "classes.txt"), "w") as f:
        f.write("".join(c + "\n" for c in classes))
    pairs = []
    for i, (p, dets) in enumerate(zip(paths, mirror)):
        shutil.copy(p, os.path.join(data, "images/val", "f%d.png" % i))
        lines, tb, tl = [], [], []
        for d in dets:
            x1, y1, x2, y2 = d["box"]
            if not (x2 > x1 and y2 > y1):
                continue  # the C++ reader drops empty truth boxes too
            lines.append("%d %.9f %.9f %.9f %.9f\n" % (d["class_id"], (x1 + x2) / 2 / size, (y1 + y2) / 2 / size,
                                                       (x2 - x1) / size, (y2 - y1) / size))
            tb.append(d["box"])
            tl.append(d["class_id"])
        with open(os.path.join(data, "labels/val", "f%d.txt" % i), "w") as f:
            f.writelines(lines)
        pairs.append((np.array(tb, np.float32).reshape(-1, 4), np.array(tl, np.int64), dets))
    expected = td.evaluate(pairs, classes)
    out = os.path.join(work, "eval.json")
    r = subprocess.run([binary, "eval-detector", "--model", model, "--data", data, "--format", "yolo",
                        "--split", "val", "--json", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=dict(os.environ, MARROWSCOPE_THREADS="1"))
    if r.returncode != 0:
        print("%s: C++ eval-detector failed (%d): %s" % (name, r.returncode, r.stdout[-1500:]))
        return False
    got = json.load(open(out))
    worst = 0.0
    for k in ("AP", "AP50", "AP75", "AP90", "AR100"):
        worst = max(worst, abs(got[k] - expected[k]))
        for c in classes:
            if expected["per_class"][c]["num_truth"] > 0:
                worst = max(worst, abs(got["per_class"][c][k] - expected["per_class"][c][k]))
    ok = worst <= 1e-6
    print("%s eval-detector parity: C++ AP %.6f AP75 %.6f AR100 %.6f, mirror AP %.6f AP75 %.6f AR100 %.6f, "
          "max diff %.1e -> %s" % (name, got["AP"], got["AP75"], got["AR100"], expected["AP"], expected["AP75"],
                                   expected["AR100"], worst, "OK" if ok else "MISMATCH"))
    return ok


def detect_parity(name, binary, model, paths, mirror, size, tol_score, tol_box):
    """C++ `detect --json --min-score 0` against the mirror, detection by detection."""
    env = dict(os.environ, MARROWSCOPE_THREADS="1")
    r = subprocess.run([binary, "detect", "--json", "--min-score", "0", "--model", model] + paths,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        print("%s detect parity: C++ detect failed (exit %d)%s" % (
            name, r.returncode, " -- a crash; build/marrowscope predates the cmd_detect.cpp fix of the "
            "dangling range-for?" if r.returncode < 0 else ": " + r.stderr[-1500:]))
        return False
    cpp = json.loads(r.stdout)
    worst = {"score": 0.0, "box": 0.0, "iou": 0.0}
    ok = True
    total = 0
    for p, c, py in zip(paths, cpp, mirror):
        cd = c["detections"]
        total += len(cd)
        if len(py) != len(cd):
            print("  %s: C++ %d detections, mirror %d" % (os.path.basename(p), len(cd), len(py)))
            ok = False
            continue
        for d_py, d_c in zip(py, cd):
            if d_py["class_id"] != d_c["class_id"]:
                print("  %s: class differs (%s vs %s)" % (os.path.basename(p), d_c["class_id"], d_py["class_id"]))
                ok = False
                break
            worst["score"] = max(worst["score"], abs(d_py["score"] - d_c["score"]))
            worst["box"] = max(worst["box"], float(np.abs(np.array(d_py["box"]) - np.array(d_c["box"])).max()))
            if d_c["iou_pred"] >= 0 or d_py["iou"] >= 0:
                worst["iou"] = max(worst["iou"], abs(d_py["iou"] - d_c["iou_pred"]))
    ok = ok and worst["score"] <= tol_score and worst["box"] <= tol_box and worst["iou"] <= tol_score
    print("%s detect parity (%d px, %d images, %d detections): max |score diff| %.2e, max |box diff| %.2e px, "
          "max |iou diff| %.2e -> %s" % (name, size, len(paths), total, worst["score"], worst["box"], worst["iou"],
                                         "OK" if ok else "MISMATCH"))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/marrowscope")
    ap.add_argument("--configs", default="configs/detector/baseline.json,configs/detector/pa_iou.json")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--tol-score", type=float, default=1e-4)
    ap.add_argument("--tol-box", type=float, default=1e-3)
    ap.add_argument("--keep", action="store_true", help="keep the work folders (printed)")
    ap.add_argument("--skip-detect", action="store_true",
                    help="only the eval-detector comparison (for a binary whose `detect` predates the fix of its crash)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ok = True
    for c in a.configs.split(","):
        work = tempfile.mkdtemp(prefix="detparity-")
        try:
            ok = check(c, a.binary, a.size, work, a.images, a.tol_score, a.tol_box, a.skip_detect) and ok
        finally:
            if a.keep:
                print("  work folder: %s" % work)
            else:
                shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
