#!/usr/bin/python3
"""Packs ../shared/data/txl-pbc into small square JPEGs for a GPU detector run on a lent machine.

The device machine only receives the repository (64 MiB at most), so this writes every field
letterboxed to SIDE x SIDE exactly as the C++ letterbox (core/box.cpp make_letterbox: one float32
scale min(SIDE/w, SIDE/h), resized size round(w*scale) x round(h*scale), centred with
floor((SIDE - size)/2), grey 114 padding; PIL's BOX filter when shrinking = area averaging, as
cv::INTER_AREA, bilinear when growing) as one JPEG into OUT/<split>/<stem>.jpg, with the YOLO label
file copied unchanged as OUT/<split>/<stem>.txt (YOLO boxes are normalised to the original field) and OUT/index.json (classes, side, original
width/height per field, so the trainer builds the C++ letterbox of each field and maps its boxes
back to the original pixels for evaluation). Most txl-pbc fields are 575 x 575; some are not
square. Files are read by content (about 1,000 *.png files are JPEG bytes).

    /usr/bin/python3 tools/gpu/make_txl_pack.py --data ../shared/data/txl-pbc --side 448 \
        --quality 75 --out .gpu/txl448
"""
import argparse
import json
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="YOLO folder: images/<split>, labels/<split>, classes.txt")
    ap.add_argument("--side", type=int, default=448)
    ap.add_argument("--quality", type=int, default=75)
    ap.add_argument("--splits", default="train,val")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    classes = []
    with open(os.path.join(a.data, "classes.txt")) as f:
        for line in f:
            if line.strip():
                classes.append(line.strip())
    index = {"source": os.path.realpath(a.data), "side": a.side, "quality": a.quality,
             "classes_txt": classes, "splits": {}}
    total = 0
    for split in a.splits.split(","):
        img_dir = os.path.join(a.data, "images", split)
        lab_dir = os.path.join(a.data, "labels", split)
        out_dir = os.path.join(a.out, split)
        os.makedirs(out_dir, exist_ok=True)
        fields = []
        for name in sorted(os.listdir(img_dir)):
            stem = os.path.splitext(name)[0]
            img = Image.open(os.path.join(img_dir, name))  # PIL decodes by content
            img = img.convert("RGB")
            w, h = img.size
            scale = min(np.float32(a.side) / np.float32(w), np.float32(a.side) / np.float32(h))
            rw, rh = int(np.floor(np.float32(w) * scale + 0.5)), int(np.floor(np.float32(h) * scale + 0.5))
            if (rw, rh) != (w, h):
                img = img.resize((rw, rh), Image.BOX if scale < 1 else Image.BILINEAR)
            if (rw, rh) != (a.side, a.side):
                canvas = Image.new("RGB", (a.side, a.side), (114, 114, 114))
                canvas.paste(img, (int(np.floor((a.side - rw) / np.float32(2))),
                                   int(np.floor((a.side - rh) / np.float32(2)))))
                img = canvas
            dst = os.path.join(out_dir, stem + ".jpg")
            img.save(dst, format="JPEG", quality=a.quality, subsampling=2)
            label = os.path.join(lab_dir, stem + ".txt")
            text = open(label).read() if os.path.exists(label) else ""
            with open(os.path.join(out_dir, stem + ".txt"), "w") as f:
                f.write(text)
            fields.append({"stem": stem, "file": name, "width": w, "height": h})
            total += os.path.getsize(dst) + len(text)
        index["splits"][split] = fields
        print("%s: %d fields" % (split, len(fields)))
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f)
    print("pack %s: %.1f MB of images and labels" % (a.out, total / 1e6))


if __name__ == "__main__":
    main()
