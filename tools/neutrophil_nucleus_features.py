#!/usr/bin/python3
"""How well does the textbook rule separate PBC's band and segmented neutrophil labels?

    /usr/bin/python3 tools/neutrophil_nucleus_features.py --split-dir models/classifier/split \
        --data ../shared/data/pbc [--cnn-val VAL.json] [--out FEATURES.npz]

A band's nucleus is one unbroken, curved lobe; a segmented neutrophil's nucleus is two to five
lobes joined by filaments, the narrowest part thinner than a third of the widest (CAP / ICSH
convention). This script measures that on each cell: it segments the nucleus (two-level Otsu on
the green channel, the components near the image centre), then computes its thickness profile
from the distance transform (how many pieces remain when the nucleus is eroded by r pixels, the
radius at which it first splits relative to its largest half-width), solidity, circularity and
elongation. A logistic regression, a gradient-boosted model and a random forest are fitted on the
band/segmented cells of split/train.txt and scored on split/val.txt (5-fold CV on train too).

With --cnn-val (the JSON array of `marrowscope classify --json --top 11` over the val band and
segmented cells, as printed), it also scores the CNN on the same pair and the CNN's log-odds plus
w x the features' log-odds (w from a fixed grid, chosen on val: an upper bound, not an estimate).

Plain /usr/bin/python3 with Debian's python3-numpy, -scipy, -sklearn and -pil. Seeds fixed.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull

PAIR = ("band_neutrophil", "segmented_neutrophil")
NAMES = ["area", "max_half_width", "lobes", "components", "split_radius", "split_ratio", "solidity",
         "circularity", "elongation", "perimeter_per_width", "area_per_width2", "max_pieces",
         "radius_of_max_pieces"] + ["pieces_r%d" % r for r in range(1, 13)]


def otsu(values):
    hist, _ = np.histogram(values, bins=256, range=(0, 256))
    p = hist / max(1, hist.sum())
    w = np.cumsum(p)
    m = np.cumsum(p * np.arange(256))
    between = (m[-1] * w - m) ** 2 / (w * (1 - w) + 1e-12)
    return int(np.argmax(between))


def nucleus_mask(rgb):
    """Dark purple nucleus: Otsu on green splits background from cells, a second Otsu on the darker
    pixels splits the nucleus from cytoplasm and red cells; keep pieces near the image centre."""
    g = rgb[..., 1].astype(np.uint8)
    t1 = otsu(g.ravel())
    t2 = otsu(g[g < t1].ravel())
    m = ndi.binary_opening(g < t2, iterations=1)
    lab, n = ndi.label(m)
    h, w = m.shape
    keep = np.zeros_like(m)
    if n:
        idx = np.arange(1, n + 1)
        for area, (y, x), i in zip(ndi.sum(m, lab, idx), ndi.center_of_mass(m, lab, idx), idx):
            if area >= 60 and np.hypot(y - h / 2, x - w / 2) < 110:
                keep |= lab == i
    return ndi.binary_fill_holes(keep)


def features(path):
    rgb = np.asarray(Image.open(path).convert("RGB"))
    m = nucleus_mask(rgb)
    area = float(m.sum())
    if area < 50:
        return None
    dt = ndi.distance_transform_edt(m)
    dmax = float(dt.max())
    lab, ncomp = ndi.label(m)
    areas = ndi.sum(m, lab, np.arange(1, ncomp + 1))
    lobes = int((areas >= 0.08 * area).sum())
    profile = []
    for r in range(1, 13):
        core = dt > r
        l, k = ndi.label(core)
        a = ndi.sum(core, l, np.arange(1, k + 1)) if k else np.array([])
        profile.append(int((a >= max(10, 0.04 * area)).sum()))
    profile = np.array(profile)
    splits = profile > max(lobes, 1)
    split = float(np.argmax(splits) + 1) if splits.any() else dmax
    ys, xs = np.nonzero(m)
    pts = np.stack([xs, ys], 1)
    try:
        solidity = area / ConvexHull(pts).volume
    except Exception:  # degenerate (a line of pixels)
        solidity = 1.0
    perimeter = float((m ^ ndi.binary_erosion(m)).sum())
    ev = np.sort(np.linalg.eigvalsh(np.cov(pts.T)))
    return [area, dmax, lobes, ncomp, split, split / dmax, solidity, perimeter ** 2 / (4 * np.pi * area),
            ev[0] / ev[1], perimeter / dmax, area / dmax ** 2, profile.max(), int(np.argmax(profile))] + list(profile)


def load_split(path, data):
    cells = []
    for line in open(path).read().splitlines():
        cls, rel = line.split("\t")
        if cls in PAIR:
            cells.append((os.path.join(data, rel), PAIR.index(cls)))
    return cells


def matrix(cells):
    X, y, paths = [], [], []
    for path, label in cells:
        f = features(path)
        X.append(f if f is not None else [0.0] * len(NAMES))
        y.append(label)
        paths.append(path)
    return np.array(X, float), np.array(y), paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cnn-val", default="")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xt, yt, _ = matrix(load_split(os.path.join(a.split_dir, "train.txt"), a.data))
    Xv, yv, pv = matrix(load_split(os.path.join(a.split_dir, "val.txt"), a.data))
    if a.out:
        np.savez(a.out, Xt=Xt, yt=yt, Xv=Xv, yv=yv, names=np.array(NAMES))
    out = {"train_cells": int(len(yt)), "val_cells": int(len(yv)), "feature_means": {}, "models": {}}
    for j, name in enumerate(NAMES[:13]):
        out["feature_means"][name] = {"band": round(float(Xt[yt == 0, j].mean()), 3),
                                      "segmented": round(float(Xt[yt == 1, j].mean()), 3)}
    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(C=1, max_iter=2000)),
        "gradient_boosting": GradientBoostingClassifier(random_state=0),
        "random_forest": RandomForestClassifier(500, random_state=0, min_samples_leaf=3),
    }
    for name, clf in models.items():
        cv = cross_val_score(clf, Xt, yt, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
        clf.fit(Xt, yt)
        out["models"][name] = {"train_cv_accuracy": round(float(cv), 4), "val_accuracy": round(float(clf.score(Xv, yv)), 4)}
    if a.cnn_val:
        odds = {}
        for o in json.load(open(a.cnn_val)):
            p = {t["class"]: t["probability"] for t in o["top"]}
            odds[os.path.realpath(o["image"])] = np.log(p[PAIR[1]] + 1e-9) - np.log(p[PAIR[0]] + 1e-9)
        cnn = np.array([odds[os.path.realpath(p)] for p in pv])
        feat = models["logistic"].decision_function(Xv)
        out["cnn_pair_accuracy"] = round(float(((cnn > 0) == yv).mean()), 4)
        out["cnn_plus_features"] = {str(w): round(float(((cnn + w * feat > 0) == yv).mean()), 4)
                                    for w in (0.25, 0.5, 0.75, 1.0, 1.5)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
