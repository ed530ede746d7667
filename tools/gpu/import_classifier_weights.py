#!/usr/bin/python3
"""Writes weights trained by tools/gpu/train_cnn_classifier.py or tools/gpu/train_vit_classifier.py
into a C++ classifier model folder.

Run with Debian's interpreter (torch 1.13, the LibTorch version the C++ build links):
    /usr/bin/python3 tools/gpu/import_classifier_weights.py --run RUN [--template models/classifier] \
        --out OUT_DIR --version NAME --command "the command that trained RUN"

The template folder is a model folder of the same architecture written by the C++ trainer: its
model.pt is loaded (a torch::serialize archive is a TorchScript module), every parameter and
buffer is overwritten with the array of the same name from RUN/weights.npz (names and shapes must
match exactly, else nothing is written; float16 arrays are widened), and the archive is saved
again. model.json is the template's with the fields that the GPU run decided replaced: input
size, crop fraction, normalisation, version and provenance. The metrics in the card come from the
C++ eval-classifier, run afterwards on the written folder.

Runs of train_vit_classifier.py carry their C++ config (summary.json "config"). Without
--template, the template is made by the C++ trainer itself (--marrowscope, default
build/marrowscope): one optimiser step of that config on 5 cells per class taken from --data-root,
so the architecture, parameter names and model.json are exactly the C++ code's.

--recalibrate-bn TRAIN_LIST re-estimates every BatchNorm's running mean and variance on the
training cells decoded from the original files (TRAIN_LIST: "class<TAB>path" lines, the run's
train.txt), resized and centre-cropped as the C++ predictor does, each also mirrored. The GPU run
saw JPEG-recompressed cells (the pack); the product sees the originals, whose slightly sharper
texture shifts the normalisation statistics. Only training cells are used.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_folder import write_model_folder  # noqa: E402


def recalibrate_bn(weights, summary, train_list, data_root, batch=256):
    import sys
    from PIL import Image
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_cnn_classifier import CnnClassifier
    args = summary["args"]
    if "config" in summary:  # a train_vit_classifier.py run of a CNN config
        from train_vit_classifier import build_model
        model = build_model(summary["config"]["model"], len(summary["classes"]))
    else:
        model = CnnClassifier(args["width"], len(summary["classes"]), args["dropout"])
    model.load_state_dict({k: torch.from_numpy(np.asarray(weights[k])) for k in weights.files})
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over every batch
    side, inp = summary["pack_side"], summary["input_size"]
    mean = torch.tensor(summary["normalization"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(summary["normalization"]["std"]).view(1, 3, 1, 1)
    paths = [os.path.join(data_root, l.rstrip("\n").split("\t")[1]) for l in open(train_list) if l.strip()]
    order = np.random.default_rng(0).permutation(len(paths))
    o = (side - inp) // 2
    model.train()
    with torch.no_grad():
        for b in range(0, len(paths), batch):
            imgs = []
            for i in order[b:b + batch]:
                im = Image.open(paths[i]).convert("RGB")
                im = im.resize((side, side), Image.BOX if min(im.size) > side else Image.BILINEAR)
                imgs.append(np.asarray(im))
            x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
            x = x[..., o:o + inp, o:o + inp]
            if "stain_standardisation" in summary:
                from train_robust_classifier import stain_standardise
                st = summary["stain_standardisation"]
                x = stain_standardise(x, torch.tensor(st["background"]), torch.tensor(st["od_p99"]))
            x = (x - mean) / std
            model(torch.cat([x, x.flip(-1)]))
    print("re-estimated BatchNorm statistics on %d training cells" % len(paths))
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def make_template(summary, marrowscope, data_root, work):
    """A C++ model folder of the run's config: one step of `marrowscope train-classifier` on 5 cells
    per class (symlinks into data_root/<class>/). Returns the folder."""
    import subprocess
    data = os.path.join(work, "cells")
    for c in summary["classes"]:
        src = os.path.join(os.path.realpath(data_root), c)
        if not os.path.isdir(src):
            raise SystemExit("%s: no folder for class %s (needed to build the C++ template)" % (data_root, c))
        os.makedirs(os.path.join(data, c))
        for name in sorted(os.listdir(src))[:5]:
            os.symlink(os.path.join(src, name), os.path.join(data, c, name))
    cfg = json.loads(json.dumps(summary["config"]))
    cfg["optim"].update({"epochs": 1, "batch_size": 4})
    cfg["max_steps_per_epoch"] = 1
    cfg["data"]["crop_fraction"] = summary["crop_fraction"]
    cfg_path = os.path.join(work, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, MARROWSCOPE_THREADS=os.environ.get("MARROWSCOPE_THREADS", "1"))
    r = subprocess.run([marrowscope, "train-classifier", "--config", cfg_path, "--data", data, "--out",
                        os.path.join(work, "run")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if r.returncode != 0:
        raise SystemExit("building the C++ template failed:\n" + r.stdout[-2000:])
    return os.path.join(work, "run", "model")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="folder with weights.npz and summary.json")
    ap.add_argument("--template", default="", help="C++ model folder of the same architecture (default for "
                    "train_vit_classifier.py runs: made by --marrowscope from the run's config)")
    ap.add_argument("--marrowscope", default="build/marrowscope", help="C++ binary that makes the template")
    ap.add_argument("--out", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--recalibrate-bn", default="", help="train list (class<TAB>path) to re-estimate BN on")
    ap.add_argument("--data-root", default="../shared/data/pbc", help="relative list paths start here")
    a = ap.parse_args()

    weights = np.load(os.path.join(a.run, "weights.npz"))
    summary = json.load(open(os.path.join(a.run, "summary.json")))
    if a.recalibrate_bn:
        weights = recalibrate_bn(weights, summary, a.recalibrate_bn, a.data_root)
    work = tempfile.mkdtemp(prefix="import-classifier-")
    if not a.template:
        if "config" not in summary:
            raise SystemExit("--template is required for runs without a C++ config in summary.json")
        a.template = make_template(summary, a.marrowscope, a.data_root, work)
    module = torch.jit.load(os.path.join(a.template, "model.pt"), map_location="cpu")
    state = module.state_dict()
    names = list(weights.keys()) if isinstance(weights, dict) else weights.files
    missing = sorted(set(state) - set(names))
    extra = sorted(set(names) - set(state))
    if missing or extra:
        raise SystemExit("weights do not match the template: missing %s, unexpected %s" % (missing[:5], extra[:5]))
    with torch.no_grad():
        for name, t in state.items():
            w = torch.from_numpy(np.asarray(weights[name]))
            if w.is_floating_point() and t.is_floating_point():
                w = w.to(t.dtype)  # --save-dtype float16 runs
            if tuple(w.shape) != tuple(t.shape) or w.dtype != t.dtype:
                raise SystemExit("%s: template %s %s, weights %s %s" % (name, tuple(t.shape), t.dtype,
                                                                        tuple(w.shape), w.dtype))
            t.copy_(w)

    info = json.load(open(os.path.join(a.template, "model.json")))
    if info["classes"] != summary["classes"]:
        raise SystemExit("class lists differ: template %s, run %s" % (info["classes"], summary["classes"]))
    info["model"]["input_size"] = summary["input_size"]
    info["crop_fraction"] = summary["crop_fraction"]
    info["normalization"] = dict(summary["normalization"])
    if "stain_standardisation" in summary:
        info["normalization"]["stain_standardisation"] = summary["stain_standardisation"]
        info["training_stain"] = summary["stain_standardisation"]  # measured on the run's training cells
    info["version"] = a.version
    args = summary["args"]
    from_config = "config" in summary
    info["provenance"] = {
        "command": a.command,
        "trainer": "tools/gpu/%s (PyTorch %s on %s), imported by tools/gpu/import_classifier_weights.py" % (
            summary.get("trainer", "train_vit_classifier.py" if from_config else "train_cnn_classifier.py"),
            summary["torch"], summary["device"]),
        "data": "../shared/data/pbc (packed at %d px by tools/gpu/make_pbc_cache.py)" % summary["pack_side"],
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "epochs_planned": summary["epochs_planned"] if from_config else args["epochs"],
        "epoch": summary["epochs_done"] if from_config else args["epochs"],
        "seed": summary["config"]["seed"] if from_config else args["seed"],
        "split_seed": info.get("provenance", {}).get("split_seed", 42),
        "train_cells": summary.get("train_cells"), "val_cells": summary.get("val_cells"),
        "train_seconds": summary.get("train_seconds"), "weights": summary["weights"],
        "gpu_val_accuracy": summary["val_accuracy"], "gpu_val_macro_f1": summary.get("val_macro_f1"),
        "options": args,
        "bn_recalibrated_on": a.recalibrate_bn or None,
    }
    if from_config:
        info["provenance"].update({"cut_short": summary["cut_short"], "config": summary["config"]})
        info["metrics"] = {}  # the template's are from its one-step run; eval-classifier measures these weights
    else:
        info["model"]["cnn"]["dropout"] = args["dropout"]
        info["model"]["cnn"]["backbone"]["width"] = args["width"]

    write_model_folder(a.out, module, info, a.run)
    shutil.rmtree(work, ignore_errors=True)
    print("wrote %s (%s)" % (a.out, a.version))


if __name__ == "__main__":
    main()
