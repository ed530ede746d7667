#!/usr/bin/env python3
"""The detector ablation's table with seeds: mean, spread and range per config.

Reads OUT_DIR/<config>-s<seed>/metrics.jsonl as tools/detector_ablation_cpu.sh leaves them and
takes each finished run's LAST epoch (equal budget, no checkpoint chosen on the validation set it
is scored on). Prints a markdown table: per config the number of seeds, and for each metric the
mean +- sample standard deviation; then each config's difference from `pa_iou` (the shipped
structure) with the spread of that difference's mean (sqrt(s1^2/n1 + s2^2/n2)).

--earlier FILE.json adds runs that are no longer on disk: a summary as --json writes it (per config
its seeds and, per metric, n, mean and sd). A seed found both there and in OUT_DIR counts once, from
FILE. The pooled mean and sample SD are exact from (n, mean, sd) of each part, so only the earlier
file's rounding carries over.

  python3 tools/summarise_detector_ablation.py OUT_DIR [--earlier FILE.json] [--json OUT.json]
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

ORDER = ["baseline", "pa", "iou", "pa_iou", "pa_iou_atss", "pa_iou_ota", "pa_iou_paa"]
METRICS = [("WBC", "AP"), ("WBC", "AP50"), ("WBC", "AP75"), ("WBC", "AP90"), ("WBC", "AR100"),
           ("", "AP50"), ("", "AP75")]


def last_epoch(path):
    last = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                last = json.loads(line)
    return last


def value(val, cls, metric):
    if cls:
        return val["per_class"][cls][metric]
    return val[metric]


def pooled(a, b):
    """Mean and sample SD of two groups together, from each group's (n, mean, sd)."""
    n = a["n"] + b["n"]
    mean = (a["n"] * a["mean"] + b["n"] * b["mean"]) / n
    ss = sum((g["n"] - 1) * g["sd"] ** 2 for g in (a, b) if g["n"] > 1)
    ss += (b["mean"] - a["mean"]) ** 2 * a["n"] * b["n"] / n
    both = all(g.get("min") is not None for g in (a, b))
    return {"mean": mean, "sd": math.sqrt(ss / (n - 1)) if n > 1 else float("nan"), "n": n,
            "min": min(a["min"], b["min"]) if both else None, "max": max(a["max"], b["max"]) if both else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--earlier", help="a summary (--json output) of runs no longer in OUT_DIR")
    ap.add_argument("--json", help="write the per-run values and the summary here")
    args = ap.parse_args()
    earlier, earlier_budget = {}, None
    if args.earlier:
        with open(args.earlier) as f:
            doc = json.load(f)
        earlier, earlier_budget = doc["summary"], doc.get("budget")
    runs = {}
    for name in sorted(os.listdir(args.out_dir)):
        m = re.fullmatch(r"(.+)-s(\d+)", name)
        path = os.path.join(args.out_dir, name)
        if not m or not os.path.exists(os.path.join(path, "done")):
            continue
        rec = last_epoch(os.path.join(path, "metrics.jsonl"))
        if rec is None or "val" not in rec:
            continue
        if int(m.group(2)) in earlier.get(m.group(1), {}).get("seeds", []):
            continue
        runs.setdefault(m.group(1), {})[int(m.group(2))] = {
            "epoch": rec["epoch"], **{f"{c or 'mean'} {k}": value(rec["val"], c, k) for c, k in METRICS}}
    if not runs and not earlier:
        print("no finished runs in " + args.out_dir, file=sys.stderr)
        return 1
    budget = ""
    if os.path.exists(os.path.join(args.out_dir, "budget.txt")):
        with open(os.path.join(args.out_dir, "budget.txt")) as f:
            budget = f.read().strip()
    if earlier_budget is not None and budget and earlier_budget != budget:
        print(f"budgets differ: {args.earlier} has '{earlier_budget}', {args.out_dir} has '{budget}'", file=sys.stderr)
        return 2
    budget = budget or earlier_budget or ""
    keys = [f"{c or 'mean'} {k}" for c, k in METRICS]
    summary = {}
    names = set(runs) | set(earlier)
    for cfg in [c for c in ORDER if c in names] + sorted(names - set(ORDER)):
        seeds = runs.get(cfg, {})
        before = earlier.get(cfg)
        row = {"seeds": sorted(set(seeds) | set(before["seeds"] if before else []))}
        for k in keys:
            xs = [seeds[s][k] for s in sorted(seeds)]
            new = None
            if xs:
                new = {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else float("nan"),
                       "min": min(xs), "max": max(xs), "n": len(xs)}
            if before and new:
                row[k] = pooled(before[k], new)
            else:
                row[k] = dict(before[k]) if before else new
        summary[cfg] = row
    print(f"Budget: {budget}; last epoch of each run; mean +- sample SD over seeds\n")
    print("| config | seeds | " + " | ".join(keys) + " |")
    print("|---|---|" + "---:|" * len(keys))
    for cfg, row in summary.items():
        cells = []
        for k in keys:
            s = row[k]
            cells.append(f"{s['mean']:.3f}" + ("" if math.isnan(s["sd"]) else f" ± {s['sd']:.3f}"))
        print(f"| `{cfg}` | {','.join(map(str, row['seeds']))} | " + " | ".join(cells) + " |")
    if "pa_iou" in summary:
        ref = summary["pa_iou"]
        print("\nDifference from `pa_iou` (mean difference ± its standard error; |d| > 2 SE marked *)\n")
        print("| config | " + " | ".join(keys) + " |")
        print("|---|" + "---:|" * len(keys))
        for cfg, row in summary.items():
            if cfg == "pa_iou":
                continue
            cells = []
            for k in keys:
                a, b = row[k], ref[k]
                d = a["mean"] - b["mean"]
                if a["n"] > 1 and b["n"] > 1:
                    se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
                    cells.append(f"{d:+.3f} ± {se:.3f}" + (" *" if se > 0 and abs(d) > 2 * se else ""))
                else:
                    cells.append(f"{d:+.3f}")
            print(f"| `{cfg}` | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budget": budget, "runs": runs, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
