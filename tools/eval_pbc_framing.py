#!/usr/bin/env python3
"""Accuracy of a classifier on the held-out pbc cells (models/classifier/split/val.txt) through
`marrowscope classify`, as the images are and framed by their own red cells, so that framing by
scale (classify --red-cell-scale) is shown not to cost the training lab's accuracy.

    python3 tools/eval_pbc_framing.py [--model DIR] [--binary build/marrowscope] [--limit N] [--views V]
    /usr/bin/python3 tools/eval_pbc_framing.py --zoom 2.2 --side 120 ...   (needs python3-pil)

Prints one JSON object: accuracy as-is, accuracy framed, how each image was framed, and the
median red-cell side the detector measured on these 360x363 crops.

--zoom Z --side S stands in for another lab's magnification and camera with the training lab's own
labelled cells: each crop's central 1/Z is cut out and resized (antialiased) to S x S pixels, in a
temporary folder, before classifying. At Z 2.2 and S 120 a pbc cell fills its crop as an
ood-tecom cell does, at about ood-tecom's pixels per cell; the cell keeps some red cells around it,
so framing by the red cells can still measure the scale.
"""
import argparse
import collections
import json
import os
import subprocess
import tempfile


def run(binary, model, files, extra):
    cmd = [binary, "classify", "--json", "--model", model] + extra + files
    env = dict(os.environ, MARROWSCOPE_THREADS=os.environ.get("MARROWSCOPE_THREADS", "2"))
    return json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env).stdout)


def zoomed(truth, zoom, side, folder):
    """The central 1/zoom of each crop, resized to side x side (PIL, antialiased), as PNG files in
    `folder`; returns {new path: class}."""
    from PIL import Image
    out = {}
    for i, (path, c) in enumerate(sorted(truth.items())):
        im = Image.open(path).convert("RGB")
        w, h = im.size
        s = min(w, h) / zoom
        box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
        dst = os.path.join(folder, "%05d.png" % i)
        im.resize((side, side), Image.BILINEAR, box=box).save(dst)
        out[dst] = c
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/classifier")
    ap.add_argument("--binary", default="build/marrowscope")
    ap.add_argument("--data", default="../shared/data/pbc")
    ap.add_argument("--list", default="models/classifier/split/val.txt")
    ap.add_argument("--limit", type=int, default=0, help="every k-th cell only, for a quick look (0: all)")
    ap.add_argument("--views", type=int, default=0, help="test-time views (0: the model's own)")
    ap.add_argument("--zoom", type=float, default=1.0, help="magnify each crop's centre by this (>= 1)")
    ap.add_argument("--side", type=int, default=0, help="with --zoom: the zoomed crop's side in pixels")
    a = ap.parse_args()
    rows = [l.rstrip("\n").split("\t") for l in open(a.list) if l.strip()]
    if a.limit:
        rows = rows[:: max(1, len(rows) // a.limit)]
    truth = {os.path.join(a.data, p): c for c, p in rows}
    tmp = None
    if a.zoom != 1.0:
        if a.zoom < 1.0 or a.side < 8:
            ap.error("--zoom must be >= 1 and --side >= 8")
        tmp = tempfile.TemporaryDirectory(prefix="pbc-zoom-")
        truth = zoomed(truth, a.zoom, a.side, tmp.name)
    files = sorted(truth)
    res = {"cells": len(files), "zoom": a.zoom, "side": a.side or None, "views": a.views or "model"}
    views = ["--views", str(a.views)] if a.views else []
    for name, extra in (("as_is", views), ("red_cells", views + ["--red-cell-scale"])):
        out = run(a.binary, a.model, files, extra)
        res["accuracy_" + name] = sum(o.get("class") == truth[o["image"]] for o in out) / len(out)
        if "--red-cell-scale" in extra:
            res["framing"] = dict(collections.Counter(o["framing"]["source"] for o in out))
            sides = sorted(o["framing"]["rbc_side_px"] for o in out if o["framing"]["source"] == "red_cells")
            res["median_rbc_side_px"] = sides[len(sides) // 2] if sides else None
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
