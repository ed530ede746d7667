#!/usr/bin/python3
"""Table of tools/open_set_cpu.sh's runs: for each left-out class, how well the atypical score of a
classifier trained without it separates that class's held-out cells (unknown) from the other
classes' held-out cells (known).

    python3 tools/summarise_open_set.py OUT_DIR [--split models/classifier/split] [--json OUT]

Columns: AUROC of the score (unknown vs known; ties count half); the share of unknown cells flagged
when the threshold flags 10% of known cells; the share flagged at the product's threshold
(pipeline.flag_min_atypical, 0.95); the known cells' accuracy (the retrained network's quality);
and the class the network gave most of the unknown cells (what they would be counted as)."""
import argparse
import collections
import json
import os
import sys

PRODUCT_THRESHOLD = 0.95


def read_arrays(path):
    """classify --json prints one array per invocation; xargs may have made several."""
    text, out, dec, i = open(path).read(), [], json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        arr, i = dec.raw_decode(text, i)
        out.extend(arr)


def auroc(unknown, known):
    pairs = 0.0
    for u in unknown:
        pairs += sum(1.0 if u > k else 0.5 if u == k else 0.0 for k in known)
    return pairs / (len(unknown) * len(known))


def summarise(run, left, labels):
    rows = read_arrays(os.path.join(run, "scores.json"))
    unknown, known, called, correct = [], [], collections.Counter(), 0
    for r in rows:
        truth = labels.get(os.path.basename(r["image"]))
        if truth is None:
            raise SystemExit("%s: %s is not in the held-out list" % (run, r["image"]))
        if r.get("atypical") is None:
            raise SystemExit("%s: no atypical score for %s (no atypical.json?)" % (run, r["image"]))
        if truth == left:
            unknown.append(r["atypical"])
            called[r["class"]] += 1
        else:
            known.append(r["atypical"])
            correct += r["class"] == truth
    if not unknown or not known:
        raise SystemExit("%s: %d unknown and %d known cells" % (run, len(unknown), len(known)))
    ks = sorted(known)
    at10 = ks[int(0.9 * (len(ks) - 1))]
    return {"left_out": left, "unknown_cells": len(unknown), "known_cells": len(known),
            "auroc": auroc(unknown, known),
            "flagged_at_10pct_known": sum(u > at10 for u in unknown) / len(unknown),
            "flagged_at_product_threshold": sum(u >= PRODUCT_THRESHOLD for u in unknown) / len(unknown),
            "known_flagged_at_product_threshold": sum(k >= PRODUCT_THRESHOLD for k in known) / len(known),
            "known_accuracy": correct / len(known),
            "unknown_called_most": called.most_common(1)[0][0], "unknown_called": dict(called)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--split", default="models/classifier/split")
    ap.add_argument("--json")
    a = ap.parse_args()
    labels = {}
    for line in open(os.path.join(a.split, "val.txt")):
        if line.strip():
            c, p = line.rstrip("\n").split("\t")
            labels[os.path.basename(p)] = c
    results = []
    for name in sorted(os.listdir(a.out)):
        run = os.path.join(a.out, name)
        if name.startswith("without-") and os.path.exists(os.path.join(run, "scores.json")):
            results.append(summarise(run, name[len("without-"):], labels))
    if not results:
        raise SystemExit("no finished runs (without-CLASS/scores.json) in " + a.out)
    budget = os.path.join(a.out, "budget.txt")
    if os.path.exists(budget):
        print("Budget: " + open(budget).read().strip() + "\n")
    print("| left-out class | AUROC | flagged at 10% of known | flagged at 0.95 (known: share) | known accuracy | "
          "unknown mostly called |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        print("| %s | %.3f | %.3f | %.3f (%.3f) | %.3f | %s (%d of %d) |" % (
            r["left_out"], r["auroc"], r["flagged_at_10pct_known"], r["flagged_at_product_threshold"],
            r["known_flagged_at_product_threshold"], r["known_accuracy"], r["unknown_called_most"],
            r["unknown_called"][r["unknown_called_most"]], r["unknown_cells"]))
    if len(results) > 1:
        mean = lambda k: sum(r[k] for r in results) / len(results)
        print("| **mean** | %.3f | %.3f | %.3f | %.3f | |" % (mean("auroc"), mean("flagged_at_10pct_known"),
                                                          mean("flagged_at_product_threshold"),
                                                          mean("known_accuracy")))
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
