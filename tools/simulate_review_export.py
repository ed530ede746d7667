#!/usr/bin/env python3
"""A lab's reviewed fields for the detector's fine-tuning measurement, without a reviewer.

A lab whose camera differs from the training sources (here: txl-pbc validation fields of the
non-PBC sources through a yellow camera, blue channel scaled) uploads fields; reviewers confirm the
white cells the detector found, add the ones it missed and remove its false boxes. The ground
truth stands in for the reviewers: the white-cell boxes are what they confirm or add, and the
detector's white-cell boxes that match no true one (IoU < 0.5) at the pipeline's score threshold
are what they remove. The fields are written as the server's labelme training export writes them
(cells as "cell", removed boxes as "not_a_cell"), split by field into a corrected half
(fine-tuning) and a held-back half (measuring), each in its own folder.

  /usr/bin/python3 tools/simulate_review_export.py --data ../shared/data/txl-pbc --split val \\
      --sources BCCD,BCDD,Raabin-WBC --blue 0.6 --out RUN_DIR [--detections DET.json]

Without --detections it writes RUN_DIR/images/*.png and stops, so the detector can run on them:
  build/marrowscope detect --json --min-score 0.6 RUN_DIR/images/*.png > DET.json
then run again with --detections DET.json for RUN_DIR/corrected and RUN_DIR/heldback.
"""
import argparse
import csv
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def yolo_boxes(label_path, width, height, wbc_class):
    boxes = []
    if not os.path.exists(label_path):
        return boxes
    with open(label_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5 or int(parts[0]) != wbc_class:
                continue
            cx, cy, w, h = (float(v) for v in parts[1:])
            boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
    return boxes


def labelme(path, image_name, width, height, shapes):
    doc = {"version": "5.2.1", "flags": {}, "imagePath": image_name, "imageData": None,
           "imageHeight": height, "imageWidth": width,
           "shapes": [{"label": label, "points": [[b[0], b[1]], [b[2], b[3]]], "group_id": None,
                       "shape_type": "rectangle", "flags": {}} for label, b in shapes]}
    with open(path, "w") as f:
        json.dump(doc, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="txl-pbc folder (YOLO, source_map.csv)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--sources", default="BCCD,BCDD,Raabin-WBC")
    ap.add_argument("--blue", type=float, default=0.6, help="blue channel factor (1 = the fields as they are)")
    ap.add_argument("--wbc-class", type=int, default=0, help="YOLO class id of white cells")
    ap.add_argument("--out", required=True)
    ap.add_argument("--detections", help="`marrowscope detect --json` output on OUT/images")
    ap.add_argument("--iou", type=float, default=0.5, help="a detection matching no true box below this is removed")
    args = ap.parse_args()

    sources = set(args.sources.split(","))
    names = []
    with open(os.path.join(args.data, "source_map.csv")) as f:
        for row in csv.DictReader(f):
            if row["split"] == args.split and row["source"] in sources:
                names.append(row["new_name"])
    names.sort()
    img_dir = os.path.join(args.out, "images")
    os.makedirs(img_dir, exist_ok=True)
    fields = []
    for name in names:
        src = os.path.join(args.data, "images", args.split, name)
        out_name = os.path.splitext(name)[0] + ".png"
        out_path = os.path.join(img_dir, out_name)
        with Image.open(src) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
        if not os.path.exists(out_path):
            cast = rgb.copy()
            cast[..., 2] *= args.blue
            Image.fromarray(np.clip(np.rint(cast), 0, 255).astype(np.uint8)).save(out_path)
        h, w = rgb.shape[:2]
        label = os.path.join(args.data, "labels", args.split, os.path.splitext(name)[0] + ".txt")
        fields.append((out_name, out_path, w, h, yolo_boxes(label, w, h, args.wbc_class)))
    if not args.detections:
        print(f"{len(fields)} fields in {img_dir}; now run the detector on them (see --help)")
        return 0

    with open(args.detections) as f:
        det = json.load(f)
    by_name = {os.path.basename(d["image"]): d["detections"] for d in det}
    stats = {"corrected": [0, 0, 0, 0], "heldback": [0, 0, 0, 0]}  # fields, cells, removed, missed
    for part in stats:
        os.makedirs(os.path.join(args.out, part), exist_ok=True)
    for out_name, out_path, w, h, truth in fields:
        # Half and half by a hash of the name: stable whatever the order or the other fields.
        part = "corrected" if int(hashlib.sha256(out_name.encode()).hexdigest(), 16) % 2 == 0 else "heldback"
        found = [d["box"] for d in by_name.get(out_name, []) if d["class"] == "WBC"]
        removed = [b for b in found if all(iou(b, t) < args.iou for t in truth)]
        missed = [t for t in truth if all(iou(b, t) < args.iou for b in found)]
        link = os.path.join(args.out, part, out_name)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(out_path), link)
        shapes = [("cell", t) for t in truth]
        if part == "corrected":
            shapes += [("not_a_cell", b) for b in removed]
        labelme(os.path.join(args.out, part, os.path.splitext(out_name)[0] + ".json"), out_name, w, h, shapes)
        s = stats[part]
        s[0] += 1
        s[1] += len(truth)
        s[2] += len(removed)
        s[3] += len(missed)
    for part, (n, cells, removed, missed) in stats.items():
        print(f"{part}: {n} fields, {cells} white cells, the detector missed {missed} and gave {removed} false boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
