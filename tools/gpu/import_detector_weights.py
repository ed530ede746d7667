#!/usr/bin/python3
"""Writes detector weights trained by tools/gpu/train_detector.py into a C++ detector model folder.

Run with Debian's interpreter (torch 1.13, the LibTorch version the C++ build links):
    /usr/bin/python3 tools/gpu/import_detector_weights.py --run RUN --out OUT_DIR --version NAME \
        --command "the command that trained RUN" [--template DIR] [--binary build/marrowscope]

A C++ detector folder is model.pt (a torch::serialize archive, i.e. a TorchScript module holding
every parameter and buffer under the C++ module names) plus model.json (format, version, the
RetinaNet options, provenance, metrics; engine/detector/detector_model_file.h). The template
folder supplies an archive of exactly the run's architecture. Without --template one is made by
the C++ code itself: `marrowscope train-detector` runs one step on a one-field synthetic YOLO set
with the run's config (validation off), which writes <tmp>/model in the C++ format. Every tensor
of the template's model.pt is then overwritten with the array of the same name from
RUN/weights.npz (names and shapes must match exactly, else nothing is written; float16 weights are
widened to the template's float32), and the archive is saved again. model.json is the template's
(written by C++, so the loader accepts it) with version, provenance and the GPU run's validation
metrics replaced. `marrowscope eval-detector --model OUT ...` then re-measures the folder.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import subprocess
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_folder import write_model_folder  # noqa: E402


def make_template(summary, binary, work):
    """Runs the C++ trainer for one step on a synthetic field; returns the model folder it wrote."""
    from PIL import Image
    cfg = json.loads(json.dumps(summary["config"]))
    size = cfg["model"]["input_size"]
    data = os.path.join(work, "data")
    for d in ("images/train", "labels/train"):
        os.makedirs(os.path.join(data, d), exist_ok=True)
    img = np.full((size, size, 3), 200, np.uint8)
    img[size // 3:2 * size // 3, size // 3:2 * size // 3] = (120, 60, 150)
    Image.fromarray(img).save(os.path.join(data, "images/train/field.png"))
    with open(os.path.join(data, "labels/train/field.txt"), "w") as f:
        f.write("0 0.5 0.5 0.333333 0.333333\n")
    with open(os.path.join(data, "classes.txt"), "w") as f:
        f.write("".join(c + "\n" for c in cfg["model"]["classes"]))
    cfg["data"].update({"format": "yolo", "train_split": "train", "val_split": "", "class_map": "",
                        "max_train_fields": 0, "max_val_fields": 0})
    cfg["optim"].update({"epochs": 1, "batch_size": 1})
    cfg["best_metric_class"] = ""
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    run = os.path.join(work, "run")
    env = dict(os.environ, MARROWSCOPE_THREADS=os.environ.get("MARROWSCOPE_THREADS", "1"))
    r = subprocess.run([binary, "train-detector", "--config", path, "--data", data, "--out", run],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("C++ template run failed (%s):\n%s" % (r.returncode, r.stdout[-3000:]))
    return os.path.join(run, "model")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="folder with weights.npz and summary.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--command", required=True, help="the command that trained RUN (provenance)")
    ap.add_argument("--template", default="", help="C++ detector folder of the same architecture")
    ap.add_argument("--binary", default="build/marrowscope", help="C++ CLI used to make a template")
    a = ap.parse_args()

    summary = json.load(open(os.path.join(a.run, "summary.json")))
    weights = np.load(os.path.join(a.run, "weights.npz"))
    work = tempfile.mkdtemp(prefix="detimport-")
    try:
        template = a.template or make_template(summary, a.binary, work)
        info = json.load(open(os.path.join(template, "model.json")))
        if info["model"]["classes"] != summary["classes"]:
            raise SystemExit("class lists differ: template %s, run %s" % (info["model"]["classes"], summary["classes"]))
        if info["model"]["input_size"] != summary["input_size"]:
            raise SystemExit("input sizes differ: template %s, run %s" % (info["model"]["input_size"], summary["input_size"]))
        module = torch.jit.load(os.path.join(template, "model.pt"), map_location="cpu")
        state = module.state_dict()
        missing = sorted(set(state) - set(weights.files))
        extra = sorted(set(weights.files) - set(state))
        if missing or extra:
            raise SystemExit("weights do not match the template: missing %s, unexpected %s" % (missing[:5], extra[:5]))
        with torch.no_grad():
            for name, t in state.items():
                w = torch.from_numpy(np.asarray(weights[name]))
                if tuple(w.shape) != tuple(t.shape):
                    raise SystemExit("%s: template %s, weights %s" % (name, tuple(t.shape), tuple(w.shape)))
                if w.is_floating_point() != t.is_floating_point():
                    raise SystemExit("%s: template %s, weights %s" % (name, t.dtype, w.dtype))
                t.copy_(w.to(t.dtype))
        cfg = summary["config"]
        info["version"] = a.version
        info["provenance"] = {
            "command": a.command,
            "trainer": "tools/gpu/train_detector.py (PyTorch %s on %s), imported by "
                       "tools/gpu/import_detector_weights.py" % (summary["torch"], summary["device"]),
            "data": "%s (packed at %d px by tools/gpu/make_txl_pack.py)" % (summary["pack"], summary["pack_side"]),
            "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": cfg["seed"], "epoch": summary["epochs_done"], "of_epochs": summary["epochs_planned"],
            "epochs_auto": summary["epochs_auto"], "cut_short": summary["cut_short"],
            "train_seconds": summary["train_seconds"], "train_images_per_second": summary["train_images_per_second"],
            "assigner": cfg["assigner"], "optim": cfg["optim"], "augment": cfg["augment"],
            "weights_dtype": summary["weights_dtype"], "run": os.path.abspath(a.run),
        }
        # The GPU run's own validation (pack images); the C++ eval-detector re-measures on originals.
        info["metrics"] = summary["val"] or {}
        write_model_folder(a.out, module, info, a.run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("wrote %s (%s)" % (a.out, a.version))


if __name__ == "__main__":
    main()
