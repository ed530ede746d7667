#!/usr/bin/python3
"""Does the classifier give a cell the same class whatever way up the crop is?

    /usr/bin/python3 tools/orientation_consistency.py --split models/classifier/split/val.txt \
        --data ../shared/data/pbc --work /tmp/orient --views 1 8 [--model DIR] [--binary build/marrowscope]

Writes the eight dihedral transforms of every listed cell (identity, rotations by 90/180/270,
and the four mirror images; lossless PNG) under WORK/o0..o7/<class>/, runs
`marrowscope eval-classifier --embeddings` on each folder for each --views count, and prints per
views count: the accuracy in each orientation, and the share of cells whose predicted class is
the same in all eight. The split file has lines "<class>\\t<path under --data>".
Needs Pillow (Debian python3-pil).
"""
import argparse
import csv
import json
import os
import subprocess
import sys

from PIL import Image

TRANSFORMS = [
    [], [Image.ROTATE_90], [Image.ROTATE_180], [Image.ROTATE_270],
    [Image.FLIP_LEFT_RIGHT], [Image.FLIP_LEFT_RIGHT, Image.ROTATE_90],
    [Image.FLIP_LEFT_RIGHT, Image.ROTATE_180], [Image.FLIP_LEFT_RIGHT, Image.ROTATE_270],
]


def write_orientations(split, data, work):
    lines = [l.split("\t") for l in open(split).read().splitlines() if l.strip()]
    for k, ops in enumerate(TRANSFORMS):
        done = os.path.join(work, "o%d.done" % k)
        if os.path.exists(done):
            continue
        for cls, rel in lines:
            im = Image.open(os.path.join(data, rel)).convert("RGB")
            for op in ops:
                im = im.transpose(op)
            d = os.path.join(work, "o%d" % k, cls)
            os.makedirs(d, exist_ok=True)
            im.save(os.path.join(d, os.path.splitext(os.path.basename(rel))[0] + ".png"), compress_level=1)
        open(done, "w").close()
    return len(lines)


def predictions(binary, model, folder, views, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cmd = [binary, "eval-classifier", "--data", folder, "--views", str(views),
           "--json", os.path.join(out_dir, "eval.json"), "--embeddings", os.path.join(out_dir, "emb.csv")]
    if model:
        cmd += ["--model", model]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    acc = json.load(open(os.path.join(out_dir, "eval.json")))["accuracy"]
    pred = {}
    with open(os.path.join(out_dir, "emb.csv")) as f:
        for row in csv.reader(f):
            if row[0] == "image":
                continue
            pred[os.path.relpath(row[0], folder)] = (row[1], row[2])
    return acc, pred


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--views", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--model", default="")
    ap.add_argument("--binary", default="build/marrowscope")
    a = ap.parse_args()
    n = write_orientations(a.split, a.data, a.work)
    result = {"cells": n}
    for views in a.views:
        accs, preds = [], []
        for k in range(len(TRANSFORMS)):
            acc, pred = predictions(a.binary, a.model, os.path.join(a.work, "o%d" % k), views,
                                    os.path.join(a.work, "v%d" % views, "o%d" % k))
            accs.append(acc)
            preds.append(pred)
        keys = sorted(preds[0])
        same = sum(all(p[key][1] == preds[0][key][1] for p in preds) for key in keys)
        result["views_%d" % views] = {"accuracy_per_orientation": [round(x, 4) for x in accs],
                                      "same_class_in_all_8": round(same / len(keys), 4),
                                      "cells_compared": len(keys)}
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
