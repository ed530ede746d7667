#!/usr/bin/env python3
"""Accuracy of a classifier on the held-out pbc cells (models/classifier/split/val.txt) through
`marrowscope classify`, as the images are and framed by their own red cells, so that framing by
scale (classify --red-cell-scale) is shown not to cost the training lab's accuracy.

    python3 tools/eval_pbc_framing.py [--model DIR] [--binary build/marrowscope] [--limit N]

Prints one JSON object: accuracy as-is, accuracy framed, how each image was framed, and the
median red-cell side the detector measured on these 360x363 crops.
"""
import argparse
import collections
import json
import os
import subprocess


def run(binary, model, files, extra):
    cmd = [binary, "classify", "--json", "--model", model] + extra + files
    env = dict(os.environ, MARROWSCOPE_THREADS=os.environ.get("MARROWSCOPE_THREADS", "2"))
    return json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/classifier")
    ap.add_argument("--binary", default="build/marrowscope")
    ap.add_argument("--data", default="../shared/data/pbc")
    ap.add_argument("--list", default="models/classifier/split/val.txt")
    ap.add_argument("--limit", type=int, default=0, help="every k-th cell only, for a quick look (0: all)")
    a = ap.parse_args()
    rows = [l.rstrip("\n").split("\t") for l in open(a.list) if l.strip()]
    if a.limit:
        rows = rows[:: max(1, len(rows) // a.limit)]
    truth = {os.path.join(a.data, p): c for c, p in rows}
    files = sorted(truth)
    res = {"cells": len(files)}
    for name, extra in (("as_is", []), ("red_cells", ["--red-cell-scale"])):
        out = run(a.binary, a.model, files, extra)
        res["accuracy_" + name] = sum(o.get("class") == truth[o["image"]] for o in out) / len(out)
        if extra:
            res["framing"] = dict(collections.Counter(o["framing"]["source"] for o in out))
            sides = sorted(o["framing"]["rbc_side_px"] for o in out if o["framing"]["source"] == "red_cells")
            res["median_rbc_side_px"] = sides[len(sides) // 2] if sides else None
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
