#!/usr/bin/python3
"""Would an ensemble of the GPU sweep's CNN runs (and test-time views) lift band vs segmented?

    /usr/bin/python3 tools/gpu/ensemble_eval.py --pack .gpu/pbc146 --runs RUNS/a RUNS/b ... \
        [--views 8] [--threads 2] > ensemble.json

Each RUN is a folder written by tools/gpu/train_cnn_classifier.py (weights.npz + summary.json:
input size, crop fraction, normalisation, width, dropout). Every run is evaluated on the pack's
val cells (centre crop as in evaluation; CPU; float32) with 1 and with --views dihedral views,
then the mean softmax of all runs is scored, and of the best-k runs by their own val accuracy
(so the selection uses the val cells: an optimistic estimate). Prints JSON: per run and per
ensemble, accuracy, macro-F1, and the F1 of band_neutrophil and segmented_neutrophil.
These are pack numbers (JPEG-recompressed cells, no BatchNorm re-estimation): compare them with
each other and with the runs' own summary.json, not with the C++ eval of the shipped model.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_runs import VIEWS, load_run, normalisation  # noqa: E402
from train_cnn_classifier import centre, load_pack  # noqa: E402


def scores(probs, y, classes):
    p = probs.argmax(1)
    n = len(classes)
    conf = np.zeros((n, n), int)
    np.add.at(conf, (y, p), 1)
    tp = np.diag(conf).astype(float)
    prec = tp / np.maximum(conf.sum(0), 1)
    rec = tp / np.maximum(conf.sum(1), 1)
    f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-12)
    return {"accuracy": round(float((p == y).mean()), 4), "macro_f1": round(float(f1.mean()), 4),
            "band_f1": round(float(f1[classes.index("band_neutrophil")]), 3),
            "segmented_f1": round(float(f1[classes.index("segmented_neutrophil")]), 3)}


def run_probs(run, x_u8, views):
    s, model = load_run(run)
    model.eval()
    mean, std = normalisation(s)
    out = {}
    with torch.no_grad():
        for nv in sorted({1, views}):
            acc = []
            for i in range(0, len(x_u8), 128):
                xb = (centre(x_u8[i:i + 128].float() / 255, s["input_size"]) - mean) / std
                acc.append(sum(torch.softmax(model(VIEWS[v](xb).contiguous()), 1) for v in range(nv)) / nv)
            out[nv] = torch.cat(acc).numpy()
    return s, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--views", type=int, default=8, choices=[1, 2, 4, 8])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    imgs, y, classes, _ = load_pack(a.pack, "val")
    x_u8 = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()
    result = {"pack": a.pack, "val_cells": int(len(y)), "views": a.views, "runs": {}, "ensembles": {}}
    probs, own_acc = {}, {}
    for run in a.runs:
        name = os.path.basename(os.path.normpath(run))
        s, p = run_probs(run, x_u8, a.views)
        probs[name] = p
        own_acc[name] = s["val_accuracy"]
        result["runs"][name] = {"input": s["input_size"], "views_1": scores(p[1], y, classes),
                                "views_%d" % a.views: scores(p[a.views], y, classes)}
        print("done", name, file=sys.stderr)
    order = sorted(probs, key=lambda n: -own_acc[n])
    for k in sorted({3, 5, len(order)}):
        if k > len(order):
            continue
        members = order[:k]
        for nv in sorted({1, a.views}):
            mean = np.mean([probs[n][nv] for n in members], 0)
            result["ensembles"]["best_%d_views_%d" % (k, nv)] = dict(scores(mean, y, classes), members=members)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
