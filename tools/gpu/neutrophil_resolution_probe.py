#!/usr/bin/python3
"""Does input resolution help band vs segmented? A small fine-tuning probe on CPU.

    /usr/bin/python3 tools/gpu/neutrophil_resolution_probe.py --run RUNS/k --input 256 --epochs 8 \
        [--lr 0.01] [--split-dir models/classifier/split] [--data ../shared/data/pbc] [--threads 2]

Starts from a GPU sweep run's CNN (weights.npz + summary.json of tools/gpu/train_cnn_classifier.py),
fine-tunes it on the band/segmented cells of split/train.txt only (cross-entropy with label
smoothing 0.1 on the two classes' logits; SGD Nesterov, cosine, batch 32; random crop and a random
dihedral view), at --input px (cells resized from the originals to input / crop_fraction, centre
crop for evaluation), and prints the pair accuracy and segmented F1 on split/val.txt's band and
segmented cells with 1 and 8 views, before and after. Run it at the shipped 144 px as the control
and at a larger size: the same weights, data, steps and seed, only the resolution differs. 240 val
cells: a difference of a few cells is noise. Seeds fixed (torch 0).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_runs import VIEWS, load_run, normalisation  # noqa: E402

PAIR = ["band_neutrophil", "segmented_neutrophil"]


def load(split_dir, data, part, side):
    xs, ys = [], []
    for line in open(os.path.join(split_dir, part + ".txt")).read().splitlines():
        cls, rel = line.split("\t")
        if cls in PAIR:
            im = Image.open(os.path.join(data, rel)).convert("RGB")
            im = im.resize((side, side), Image.BILINEAR if side > min(im.size) else Image.BOX)
            xs.append(np.asarray(im))
            ys.append(PAIR.index(cls))
    return torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous(), torch.tensor(ys)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--input", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--split-dir", default="models/classifier/split")
    ap.add_argument("--data", default="../shared/data/pbc")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    s, model = load_run(a.run)
    classes = s["classes"]
    pair_idx = [classes.index(c) for c in PAIR]
    side = round(a.input / s["crop_fraction"])
    xt, yt = load(a.split_dir, a.data, "train", side)
    xv, yv = load(a.split_dir, a.data, "val", side)
    mean, std = normalisation(s)

    def prep(x, train):
        x = x.float() / 255
        if train:
            oy, ox = torch.randint(0, side - a.input + 1, (2,)).tolist()
        else:
            oy = ox = (side - a.input) // 2
        return (x[..., oy:oy + a.input, ox:ox + a.input] - mean) / std

    def evaluate(views):
        model.eval()
        probs = []
        with torch.no_grad():
            for i in range(0, len(xv), 60):
                xb = prep(xv[i:i + 60], False)
                probs.append(sum(torch.softmax(model(VIEWS[v](xb).contiguous())[:, pair_idx], 1)
                                 for v in range(views)) / views)
        p = torch.cat(probs).argmax(1)
        tp = int(((p == 1) & (yv == 1)).sum())
        f1 = 2 * tp / max(1, int((p == 1).sum()) + int((yv == 1).sum()))
        return {"pair_accuracy": round(float((p == yv).float().mean()), 4), "segmented_f1": round(f1, 3)}

    out = {"run": a.run, "input": a.input, "epochs": a.epochs, "lr": a.lr, "train_cells": len(yt),
           "val_cells": len(yv), "before": {"views_1": evaluate(1), "views_8": evaluate(8)}}
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    batch = 32
    steps = a.epochs * math.ceil(len(xt) / batch)
    step, t0 = 0, time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            b = perm[i:i + batch]
            xb = VIEWS[int(torch.randint(0, 8, (1,)))](prep(xt[b], True)).contiguous()
            for g in opt.param_groups:
                g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            loss = F.cross_entropy(model(xb)[:, pair_idx], yt[b], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        print("epoch %d loss %.3f %.1f img/s" % (epoch + 1, loss.item(), (epoch + 1) * len(xt) / (time.time() - t0)),
              file=sys.stderr, flush=True)
    out["after"] = {"views_1": evaluate(1), "views_8": evaluate(8)}
    out["train_seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
