#!/usr/bin/python3
"""Choose the pipeline's cell filters (min_det_score, cell_nms_iou, cell_nms_ios) on labelled
fields that are NOT used for the field-level accuracy (docs/RESULTS.md, Pipeline).

Input: an `analyze` JSON made with every filter open, e.g. on txl-pbc train fields that do not
come from PBC:
  build/marrowscope analyze FIELDS... --json raw.json --set pipeline.min_det_score=0.05 \\
      --set pipeline.cell_nms_iou=1 --set pipeline.cell_nms_ios=1
  /usr/bin/python3 tools/field_accuracy_tune.py raw.json --labels ../shared/data/txl-pbc/labels/train

For each setting it replays the pipeline's filters (score floor, then the greedy class-agnostic
suppression of pipeline.cpp: drop a cell overlapping a better one by IoU > iou or intersection
over the smaller box > ios) and scores the white cells against the YOLO labels (class 0, IoU >=
0.5, greedy by score): precision, recall, and the share of fields whose cells are exactly right.
"""
import argparse
import json
import os

from field_accuracy import iou, wbc_boxes


def suppress(cells, iou_thr, ios_thr):
    kept = []
    for c in cells:
        dup = False
        for k in kept:
            a, b = k["box"], c["box"]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
            if iou(a, b) > iou_thr or (smaller > 0 and iw * ih / smaller > ios_thr):
                dup = True
                break
        if not dup:
            kept.append(c)
    return kept


def score(fields, min_score, iou_thr, ios_thr):
    tp = fp = fn = exact = 0
    for cells, gt in fields:
        cells = suppress([c for c in cells if c["det_score"] >= min_score], iou_thr, ios_thr)
        used = [False] * len(gt)
        f_tp = 0
        for c in cells:
            best, best_j = 0.5, -1
            for j, g in enumerate(gt):
                if not used[j] and iou(c["box"], g) >= best:
                    best, best_j = iou(c["box"], g), j
            if best_j >= 0:
                used[best_j] = True
                f_tp += 1
        f_fp, f_fn = len(cells) - f_tp, len(gt) - f_tp
        tp, fp, fn = tp + f_tp, fp + f_fp, fn + f_fn
        exact += f_fp == 0 and f_fn == 0
    return tp / max(1, tp + fp), tp / max(1, tp + fn), exact / max(1, len(fields))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("analyze_json")
    ap.add_argument("--labels", required=True, help="YOLO label folder of the analysed fields")
    a = ap.parse_args()
    with open(a.analyze_json) as f:
        images = json.load(f)["images"]
    fields = []
    for im in images:
        if "error" in im:
            continue
        stem = os.path.splitext(os.path.basename(im["image"]))[0]
        gt = wbc_boxes(os.path.join(a.labels, stem + ".txt"), im["width"], im["height"])
        fields.append((sorted(im["cells"], key=lambda c: -c["det_score"]), gt))
    print(f"{len(fields)} fields, {sum(len(g) for _, g in fields)} labelled white cells")
    print("| min_det_score | cell_nms_iou | cell_nms_ios | precision | recall | fields exactly right |")
    print("|---|---|---|---|---|---|")
    rows = []
    for min_score in (0.05, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        for iou_thr in (1.0, 0.5, 0.4, 0.3, 0.2):
            for ios_thr in (1.0, 0.8, 0.7, 0.6, 0.5):
                p, r, e = score(fields, min_score, iou_thr, ios_thr)
                rows.append((e, p, r, min_score, iou_thr, ios_thr))
    rows.sort(reverse=True)
    shown = rows[:12] + [x for x in rows if x[3:] == (0.3, 1.0, 1.0)]
    for e, p, r, m, i, s in shown:
        print(f"| {m} | {i} | {s} | {p:.3f} | {r:.3f} | {e:.3f} |")


if __name__ == "__main__":
    main()
