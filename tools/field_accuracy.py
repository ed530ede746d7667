#!/usr/bin/python3
"""Field-level accuracy of `marrowscope analyze` on the PBC-derived txl-pbc fields.

Each PBC-derived field in ../shared/data/txl-pbc/source_map.csv is a PBC single-cell image: one
white cell in the middle whose class is in the original file name (BA, BNE, EO, LY, MO). A field
counts as right when the pipeline
  1. finds that cell: one predicted cell with IoU >= 0.5 against the labelled WBC box nearest the
     field's centre (the PBC cell; 17 of the 450 fields also label cut-off neighbours),
  2. finds nothing else: every predicted cell matches some labelled WBC box (IoU >= 0.5), and
  3. gives that cell the class of the file name (BA basophil, BNE band_neutrophil, EO eosinophil,
     LY lymphocyte, MO monocyte).

The classifier was trained on ../shared/data/pbc with a held-out split, so fields whose source
image was in its training list would flatter it. The headline subset is the fields whose source
is NOT in that list (--train-list, default models/classifier/split/train.txt); the tool also
reports the fields whose source is not in ../shared/data/pbc at all (unseen by any classifier
trained there) and the txl-pbc val split (unseen by the detector, trained on txl-pbc train).

Runs the real CLI once over every PBC-derived field, then scores its JSON:
  /usr/bin/python3 tools/field_accuracy.py --binary build/marrowscope --json /tmp/field_accuracy.json
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

CODE_TO_CLASS = {
    "BA": "basophil",
    "BNE": "band_neutrophil",
    "EO": "eosinophil",
    "LY": "lymphocyte",
    "MO": "monocyte",
}
NEUTROPHILS = {"band_neutrophil", "segmented_neutrophil"}


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def wbc_boxes(label_path, width, height):
    """YOLO lines `class cx cy w h` (normalised) -> WBC (class 0) boxes, xyxy pixels."""
    boxes = []
    with open(label_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5 or parts[0] != "0":
                continue
            cx, cy, w, h = (float(v) for v in parts[1:])
            boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
    return boxes


def score_field(image, truth_class):
    """-> dict with found (bool), extra (int), predicted class (or None), right (bool)."""
    if "error" in image:
        return {"found": False, "extra": 0, "predicted": None, "right": False, "error": image["error"]}
    w, h = image["width"], image["height"]
    gt = image["_gt"]
    target = min(gt, key=lambda b: ((b[0] + b[2]) / 2 - w / 2) ** 2 + ((b[1] + b[3]) / 2 - h / 2) ** 2)
    cells = image["cells"]
    matches = [c for c in cells if iou(c["box"], target) >= 0.5]
    extra = sum(1 for c in cells if all(iou(c["box"], g) < 0.5 for g in gt))
    found = len(matches) == 1
    predicted = matches[0]["class"] if found else None
    return {
        "found": found,
        "extra": extra,
        "predicted": predicted,
        "right": found and extra == 0 and predicted == truth_class,
        "right_lenient": found and extra == 0 and (
            predicted == truth_class or (truth_class in NEUTROPHILS and predicted in NEUTROPHILS)),
    }


def summarise(rows):
    n = len(rows)
    if n == 0:
        return {"fields": 0}
    found_clean = sum(1 for r in rows if r["found"] and r["extra"] == 0)
    right = sum(1 for r in rows if r["right"])
    classified = [r for r in rows if r["found"]]
    per_class = defaultdict(lambda: [0, 0])
    confusion = defaultdict(Counter)
    for r in rows:
        per_class[r["truth"]][1] += 1
        per_class[r["truth"]][0] += r["right"]
        confusion[r["truth"]][r["predicted"] or "(not found)"] += 1
    return {
        "fields": n,
        "field_accuracy": right / n,
        "field_accuracy_neutrophil_lenient": sum(1 for r in rows if r["right_lenient"]) / n,
        "detected_exactly": found_clean / n,
        "class_accuracy_when_found": (sum(1 for r in classified if r["predicted"] == r["truth"]) / len(classified)
                                      if classified else None),
        "fields_with_extra_cells": sum(1 for r in rows if r["extra"] > 0),
        "per_class": {c: {"right": v[0], "fields": v[1]} for c, v in sorted(per_class.items())},
        "confusion": {c: dict(v) for c, v in sorted(confusion.items())},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/marrowscope")
    ap.add_argument("--data", default="../shared/data", help="folder holding txl-pbc/ and pbc/")
    ap.add_argument("--train-list", default="models/classifier/split/train.txt",
                    help="the classifier's training list (class<TAB>path per line; the shipped model "
                         "carries it in split/, the run folder has it as train.txt)")
    ap.add_argument("--analyze-json", help="score this analyze JSON instead of running the CLI")
    ap.add_argument("--json", help="write the scores here")
    ap.add_argument("analyze_args", nargs="*", help="extra arguments for `marrowscope analyze` (after --)")
    a = ap.parse_args()

    txl = os.path.join(a.data, "txl-pbc")
    with open(os.path.join(txl, "source_map.csv")) as f:
        fields = [r for r in csv.DictReader(f) if r["source"] == "PBC"]
    if not fields:
        sys.exit(f"{txl}/source_map.csv: expected rows with source PBC, found none")
    pbc_files = set()
    for cls in os.listdir(os.path.join(a.data, "pbc")):
        pbc_files.update(os.listdir(os.path.join(a.data, "pbc", cls)))
    if not os.path.exists(a.train_list):
        sys.exit(f"{a.train_list}: the classifier's training list is missing; re-create it by re-running its "
                 "train-classifier command (same config and split_seed) into a new --out folder")
    with open(a.train_list) as f:
        trained = {os.path.basename(line.rstrip("\n").split("\t")[-1]) for line in f if line.strip()}

    paths = [os.path.join(txl, "images", r["split"], r["new_name"]) for r in fields]
    if a.analyze_json:
        out_json = a.analyze_json
    else:
        out_json = tempfile.mktemp(suffix=".json", prefix="field_accuracy_")
        # Options last: CLI11 lets a repeated option such as --set take the words after it.
        cmd = [a.binary, "analyze", "--quiet", "--json", out_json] + paths + a.analyze_args
        print("running:", " ".join(cmd[:5]), f"<{len(paths)} fields>", " ".join(a.analyze_args), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    with open(out_json) as f:
        result = json.load(f)
    by_path = {im["image"]: im for im in result["images"]}

    rows = []
    for r, p in zip(fields, paths):
        im = by_path[p]
        stem = os.path.splitext(r["new_name"])[0]
        if "error" not in im:
            im["_gt"] = wbc_boxes(os.path.join(txl, "labels", r["split"], stem + ".txt"), im["width"], im["height"])
        truth = CODE_TO_CLASS[r["wbc_class_from_name"]]
        s = score_field(im, truth) if "error" in im or im["_gt"] else {
            "found": False, "extra": 0, "predicted": None, "right": False, "right_lenient": False}
        s.setdefault("right_lenient", False)
        s.update({"field": r["new_name"], "source": r["original_name"], "split": r["split"], "truth": truth,
                  "in_pbc": r["original_name"] in pbc_files, "in_classifier_train": r["original_name"] in trained})
        rows.append(s)

    subsets = {
        "all": rows,
        "not_in_classifier_train": [r for r in rows if not r["in_classifier_train"]],
        "not_in_pbc_at_all": [r for r in rows if not r["in_pbc"]],
        "txl_val_not_in_classifier_train": [r for r in rows if r["split"] == "val" and not r["in_classifier_train"]],
        "in_classifier_train": [r for r in rows if r["in_classifier_train"]],
    }
    report = {
        "models": result["summary"].get("models"),
        "train_list": a.train_list,
        "subsets": {k: summarise(v) for k, v in subsets.items()},
        "fields": rows,
    }
    print("| subset | fields | field accuracy | found exactly | class acc. when found | (BNE/SNE lenient) |")
    print("|---|---|---|---|---|---|")
    for k, s in report["subsets"].items():
        if s["fields"] == 0:
            continue
        ca = s["class_accuracy_when_found"]
        print(f"| {k} | {s['fields']} | {s['field_accuracy']:.3f} | {s['detected_exactly']:.3f} | "
              f"{'n/a' if ca is None else f'{ca:.3f}'} | {s['field_accuracy_neutrophil_lenient']:.3f} |")
    headline = report["subsets"]["not_in_classifier_train"]
    print("\nper class (not_in_classifier_train): " + ", ".join(
        f"{c} {v['right']}/{v['fields']}" for c, v in headline["per_class"].items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    if not a.analyze_json:
        os.unlink(out_json)


if __name__ == "__main__":
    main()
