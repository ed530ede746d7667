#!/usr/bin/python3
"""Writes a classifier folder's `training_stain` (model.json): the background colour and
per-channel 99th-percentile optical density of its training cells as the network sees them
(tools/gpu/train_robust_classifier.py stain_reference, the twin of engine/train/stain_standardise.h
stain_reference), what the lab server compares a sample's stain with (server/domain_stain.h).
The C++ trainer writes it itself; this is for folders trained before it did.

    /usr/bin/python3 tools/write_training_stain.py --model models/classifier \
        [--train-list models/classifier/split/train.txt] [--data ../shared/data/pbc]

Needs Debian's python3-torch, python3-numpy and python3-pil.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))
import train_robust_classifier as robust  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/classifier")
    ap.add_argument("--train-list", default="")
    ap.add_argument("--data", default="../shared/data/pbc")
    a = ap.parse_args()
    path = os.path.join(a.model, "model.json")
    info = json.load(open(path))
    x, _ = robust.load_pbc(a.data, a.train_list or os.path.join(a.model, "split", "train.txt"), info["classes"])
    bg, od = robust.stain_reference(x, info["model"]["input_size"])
    info["training_stain"] = {"background": [round(v, 6) for v in bg.tolist()],
                              "od_p99": [round(v, 6) for v in od.tolist()],
                              "black_sum": robust.STAIN_BLACK, "background_quantile": robust.STAIN_BG_Q,
                              "od_quantile": robust.STAIN_OD_Q, "min_background": robust.STAIN_MIN_BG,
                              "min_od": robust.STAIN_MIN_OD}
    with open(path + ".tmp", "w") as f:
        json.dump(info, f, indent=1)  # the file's own key order
        f.write("\n")
    os.replace(path + ".tmp", path)
    print("%s: training_stain background %s, od_p99 %s (%d cells)" % (
        path, info["training_stain"]["background"], info["training_stain"]["od_p99"], len(x)))


if __name__ == "__main__":
    main()
