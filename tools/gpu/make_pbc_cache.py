#!/usr/bin/python3
"""Packs ../shared/data/pbc into small square JPEGs for a GPU training run on a lent machine.

The device machine only receives the repository (64 MiB at most), so the 118 MB of PBC originals
cannot travel; this writes each cell resized to SIDE x SIDE (area filter, as the C++ cell cache does
with cv::INTER_AREA) as one JPEG into OUT/<class>/<name>.jpg, plus OUT/train.txt and OUT/val.txt
copied from the C++ run's split so GPU and CPU runs use the same held-out cells.

    /usr/bin/python3 tools/gpu/make_pbc_cache.py --data ../shared/data/pbc --side 146 \
        --split-dir models/classifier/split --out .gpu/pbc146
    # the ViT ablation pack (96 px input, crop fraction 96/104; 15.4 MB, under the 16 MB budget)
    /usr/bin/python3 tools/gpu/make_pbc_cache.py --data ../shared/data/pbc --side 104 --quality 76 \
        --optimize --split-dir models/classifier/split --out .gpu/pbc104
"""
import argparse
import os

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--side", type=int, required=True)
    ap.add_argument("--quality", type=int, default=82)
    ap.add_argument("--optimize", action="store_true",
                    help="optimised Huffman tables: same pixels, about 8%% fewer bytes (small packs)")
    ap.add_argument("--split-dir", required=True, help="folder with train.txt and val.txt (class<TAB>path, absolute or relative to --data)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    data = os.path.realpath(a.data)
    for part in ("train", "val"):
        lines = []
        with open(os.path.join(a.split_dir, part + ".txt")) as f:
            for line in f:
                cls, path = line.rstrip("\n").split("\t")
                if not os.path.isabs(path):  # lists under models/classifier/split are relative
                    path = os.path.join(data, path)
                rel = os.path.relpath(os.path.realpath(path), data)
                src = os.path.join(data, rel)
                dst = os.path.join(a.out, os.path.splitext(rel)[0] + ".jpg")
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                img = Image.open(src).convert("RGB")
                img = img.resize((a.side, a.side), Image.BOX if min(img.size) > a.side else Image.BILINEAR)
                img.save(dst, format="JPEG", quality=a.quality, subsampling=2, optimize=a.optimize)  # 4:2:0 keeps the pack under the transfer limit
                lines.append("%s\t%s\n" % (cls, os.path.relpath(dst, a.out)))
        with open(os.path.join(a.out, part + ".txt"), "w") as f:
            f.writelines(lines)


if __name__ == "__main__":
    main()
