#!/usr/bin/env python3
"""Scores a classifier folder on ../shared/data/ood-tecom through the product's own inference path.

ood-tecom is 300 white cells of another lab, stain and camera (120x120 crops), labelled with five
classes: 1 neutrophil (band and segmented together), 2 lymphocyte, 3 monocyte, 4 eosinophil,
5 basophil. It is for evaluation only (GPL-3.0): nothing here trains on it.

    python3 tools/eval_ood_tecom.py [--model DIR] [--binary build/marrowscope] [--views N] [--json OUT]
                                    [--red-cell-scale] [--um-per-px U]

Runs `marrowscope classify --json --top K` (K = every class) on every image and prints:
  accuracy: the top-1 class lies in the labelled group (a cell called "myelocyte" or
            "erythroblast" is wrong even if the label is neutrophil);
  accuracy within the five groups: the group with the largest summed probability (what a
            five-class differential would count);
  per-group recall, the classes the cells were given, and when the folder has an atypical
  reference, the share of cells at or above 0.95 (flagged as atypical by the shipped pipeline).
"""
import argparse
import collections
import csv
import glob
import json
import os
import subprocess
import sys

GROUPS = [("neutrophil", ["band_neutrophil", "segmented_neutrophil"]), ("lymphocyte", ["lymphocyte"]),
          ("monocyte", ["monocyte"]), ("eosinophil", ["eosinophil"]), ("basophil", ["basophil"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/classifier")
    ap.add_argument("--binary", default="build/marrowscope")
    ap.add_argument("--data", default="../shared/data/ood-tecom")
    ap.add_argument("--views", type=int, default=0, help="test-time views (0: the model's)")
    ap.add_argument("--flag", type=float, default=0.95, help="atypical share that flags a cell")
    ap.add_argument("--json", default="", help="write the scores here")
    ap.add_argument("--red-cell-scale", action="store_true",
                    help="frame each crop by the red cells it shows (classify --red-cell-scale)")
    ap.add_argument("--um-per-px", type=float, default=0, help="declared scale (classify --um-per-px)")
    a = ap.parse_args()
    labels = {}
    with open(os.path.join(a.data, "labels.csv")) as f:
        for row in csv.reader(f):
            if row and row[0].strip().isdigit():
                labels[int(row[0])] = int(row[1]) - 1
    files = sorted(glob.glob(os.path.join(a.data, "images", "*.png")))
    if not files:
        sys.exit("%s: no images" % a.data)
    cmd = [a.binary, "classify", "--json", "--model", a.model, "--top", "64"] + (
        ["--views", str(a.views)] if a.views else []) + (
        ["--red-cell-scale"] if a.red_cell_scale else []) + (
        ["--um-per-px", str(a.um_per_px)] if a.um_per_px > 0 else []) + files
    env = dict(os.environ, MARROWSCOPE_THREADS=os.environ.get("MARROWSCOPE_THREADS", "2"))
    out = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env).stdout)
    n = right = right_grouped = flagged = 0
    per_group = collections.defaultdict(lambda: [0, 0])
    given = collections.Counter()
    framing = collections.Counter()
    atypical = []
    for item in out:
        if "error" in item:
            sys.exit("%s: %s" % (item["image"], item["error"]))
        truth = labels[int(os.path.basename(item["image"]).split("_")[0])]
        probs = {t["class"]: t["probability"] for t in item["top"]}
        top = item["class"]
        group_of_top = next((g for g, (_, members) in enumerate(GROUPS) if top in members), -1)
        sums = [sum(probs.get(c, 0.0) for c in members) for _, members in GROUPS]
        n += 1
        right += group_of_top == truth
        right_grouped += max(range(len(GROUPS)), key=lambda g: sums[g]) == truth
        per_group[truth][0] += group_of_top == truth
        per_group[truth][1] += 1
        given[top] += 1
        if "framing" in item:
            framing[item["framing"]["source"]] += 1
        if "atypical" in item:
            atypical.append(item["atypical"])
            flagged += item["atypical"] >= a.flag
    res = {"model": a.model, "views": a.views or "model", "cells": n, "accuracy": right / n,
           "accuracy_within_groups": right_grouped / n,
           "recall": {GROUPS[g][0]: per_group[g][0] / per_group[g][1] for g in sorted(per_group)},
           "support": {GROUPS[g][0]: per_group[g][1] for g in sorted(per_group)},
           "given": dict(given.most_common())}
    if framing:
        res["framing"] = dict(framing)
    if atypical:
        atypical.sort()
        res["atypical_flagged_share"] = flagged / n
        res["atypical_median"] = atypical[len(atypical) // 2]
    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
