#!/usr/bin/env python3
"""An untouched test split of txl-pbc for choosing a detector without tuning on what scores it.

Writes a YOLO dataset view (symbolic links, nothing copied) with three splits:
  test   a share of txl-pbc's TRAIN fields of every source (by a hash of the file name, so the
         choice is stable and independent of order), never trained on or selected with;
  train  the rest of txl-pbc train;
  val    txl-pbc val, as it is (checkpoint selection).
A candidate trains on train, is selected on val, and is scored once on test at the end. The
shipped detector was trained on all of txl-pbc train, so on this test split it is favoured.

  /usr/bin/python3 tools/make_detector_test_split.py --data ../shared/data/txl-pbc --out DIR [--share 0.15]
"""
import argparse
import csv
import hashlib
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--share", type=float, default=0.15, help="share of each source's train fields held out")
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    rows = []
    with open(os.path.join(data, "source_map.csv")) as f:
        rows = list(csv.DictReader(f))
    counts = {}
    for split in ("train", "test", "val"):
        for kind in ("images", "labels"):
            os.makedirs(os.path.join(args.out, kind, split), exist_ok=True)
    link = os.path.join(args.out, "classes.txt")
    if not os.path.lexists(link):
        os.symlink(os.path.join(data, "classes.txt"), link)
    for row in rows:
        name, split, source = row["new_name"], row["split"], row["source"]
        if split == "train":
            h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0x100000000
            split = "test" if h < args.share else "train"
        stem = os.path.splitext(name)[0]
        for kind, file, orig in (("images", name, row["split"]), ("labels", stem + ".txt", row["split"])):
            src = os.path.join(data, kind, orig, file)
            dst = os.path.join(args.out, kind, split, file)
            if os.path.exists(src) and not os.path.lexists(dst):
                os.symlink(src, dst)
        counts.setdefault(split, {}).setdefault(source, 0)
        counts[split][source] += 1
    with open(os.path.join(args.out, "split.json"), "w") as f:
        json.dump({"data": data, "share": args.share, "fields": counts}, f, indent=1, sort_keys=True)
    for split in ("train", "test", "val"):
        c = counts.get(split, {})
        print(f"{split}: {sum(c.values())} fields ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
