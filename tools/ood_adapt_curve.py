#!/usr/bin/env python3
"""Learning curve of `marrowscope adapt` on ../shared/data/ood-tecom: accuracy on the cells NOT used
for adapting, after adapting with k labelled cells per class.

    python3 tools/ood_adapt_curve.py --k 5 10 20 --seeds 1 2 [--model models/classifier] \
        [--binary build/marrowscope] --work /tmp/ood-curve [--json OUT]

For each (k, seed): k cells per ood-tecom class are drawn (seeded; a class with fewer gives all of
them: the single basophil), linked into WORK/k<k>-s<seed>/cells/<class>/ as the lab's reviewed cells
(neutrophils under segmented_neutrophil, as a lab would label most of them; the label does not tell
band from segmented), `marrowscope adapt` fine-tunes --model on them with replay of its training
cells (models/classifier/split/train.txt under ../shared/data/pbc), and every other cell is scored
by tools/eval_ood_tecom.py's rules through `marrowscope classify`. The adapted folders are
measurement by-products: ood-tecom is GPL-3.0 and evaluation only, so they must never be shipped.
"""
import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_ood_tecom import GROUPS  # noqa: E402

LAB_CLASS = ["segmented_neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil"]


def score(binary, model, files, labels):
    env = dict(os.environ, MARROWSCOPE_THREADS=os.environ.get("MARROWSCOPE_THREADS", "2"))
    out = json.loads(subprocess.run([binary, "classify", "--json", "--model", model, "--top", "64"] + files,
                                    check=True, stdout=subprocess.PIPE, env=env).stdout)
    right = right_grouped = 0
    for item in out:
        truth = labels[item["image"]]
        probs = {t["class"]: t["probability"] for t in item["top"]}
        right += item["class"] in GROUPS[truth][1]
        sums = [sum(probs.get(c, 0.0) for c in members) for _, members in GROUPS]
        right_grouped += max(range(len(GROUPS)), key=lambda g: sums[g]) == truth
    return right / len(out), right_grouped / len(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/classifier")
    ap.add_argument("--binary", default="build/marrowscope")
    ap.add_argument("--data", default="../shared/data/ood-tecom")
    ap.add_argument("--replay-list", default="models/classifier/split/train.txt")
    ap.add_argument("--replay-data", default="../shared/data/pbc")
    ap.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--work", required=True)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    data = os.path.abspath(a.data)
    by_class = {g: [] for g in range(len(GROUPS))}
    labels = {}
    with open(os.path.join(data, "labels.csv")) as f:
        for row in csv.reader(f):
            if row and row[0].strip().isdigit():
                path = os.path.join(data, "images", "%03d_image.png" % int(row[0]))
                labels[path] = int(row[1]) - 1
                by_class[int(row[1]) - 1].append(path)
    results = []
    base_acc = score(a.binary, a.model, sorted(labels), labels)
    print("k=0: accuracy %.4f, within groups %.4f on %d cells" % (base_acc[0], base_acc[1], len(labels)), flush=True)
    results.append({"k": 0, "seed": None, "scored": len(labels), "accuracy": base_acc[0],
                    "accuracy_within_groups": base_acc[1]})
    for k in a.k:
        for seed in a.seeds:
            run = os.path.join(a.work, "k%d-s%d" % (k, seed))
            shutil.rmtree(run, ignore_errors=True)
            rng = random.Random(seed)
            used = set()
            for g, files in by_class.items():
                pick = rng.sample(sorted(files), min(k, len(files)))
                os.makedirs(os.path.join(run, "cells", LAB_CLASS[g]), exist_ok=True)
                for p in pick:
                    os.symlink(p, os.path.join(run, "cells", LAB_CLASS[g], os.path.basename(p)))
                    used.add(p)
            subprocess.run([a.binary, "adapt", "--model", a.model, "--cells", os.path.join(run, "cells"),
                            "--replay-list", a.replay_list, "--replay-data", a.replay_data,
                            "--out", os.path.join(run, "model"), "--seed", str(seed)], check=True,
                           stdout=open(os.path.join(run, "adapt.log"), "w"), stderr=subprocess.STDOUT)
            adaptation = json.load(open(os.path.join(run, "model", "adaptation.json")))
            rest = sorted(p for p in labels if p not in used)
            acc = score(a.binary, os.path.join(run, "model"), rest, labels)
            rec = {"k": k, "seed": seed, "adapt_cells": len(used), "scored": len(rest), "accuracy": acc[0],
                   "accuracy_within_groups": acc[1], "held_back_before": adaptation["before_accuracy"],
                   "held_back_after": adaptation["after_accuracy"], "best_epoch": adaptation["best_epoch"],
                   "epochs_run": adaptation["epochs_run"]}
            results.append(rec)
            print(json.dumps(rec), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
