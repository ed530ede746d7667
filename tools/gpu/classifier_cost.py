#!/usr/bin/python3
"""Parameters and compute per cell of C++ classifier configs (the model comparison table).

For each config, builds the PyTorch mirror (tools/gpu/vit_model.py for ViTs, the ResNet of
train_cnn_classifier.py for CNNs), counts trainable parameters, and counts multiply-accumulates of
one forward pass at the config's input size (vit_model.count_macs: every convolution and linear
layer plus the two attention matmuls per encoder block). GFLOPs are reported as 2 x GMACs; many
ViT papers (DeiT, TransFG) print GMACs under the name "FLOPs", so both columns are given. With
--weights RUN/weights.npz the parameter count is also taken from that state dict (trainable
tensors only: BatchNorm running statistics are buffers and are not counted).

    /usr/bin/python3 tools/gpu/classifier_cost.py configs/classifier/ablation/*.json [--json OUT]
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_vit_classifier import build_model, effective_config  # noqa: E402
from vit_model import count_macs  # noqa: E402


def cost(config_path, num_classes=11, input_size=0):
    ns = argparse.Namespace(input_size=input_size, epochs=0, batch=0, lr=0.0, seed=None)
    cfg = effective_config(json.load(open(config_path)), ns)
    model = build_model(cfg["model"], num_classes)
    inp = cfg["model"]["input_size"]
    macs = count_macs(model, inp)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    out = {"config": config_path, "name": cfg.get("name"), "arch": cfg["model"].get("arch", "vit"),
           "input_size": inp, "parameters": params, "gmacs": macs / 1e9, "gflops": 2 * macs / 1e9}
    if out["arch"] == "vit":
        out["tokens"] = model.grid * model.grid + 1
    return out, model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--classes", type=int, default=11)
    ap.add_argument("--input-size", type=int, default=0, help="override model.input_size")
    ap.add_argument("--weights", default="", help="a run's weights.npz: count its parameters too (one config)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    rows = []
    for path in a.configs:
        row, model = cost(path, a.classes, a.input_size)
        if a.weights:
            w = np.load(a.weights)
            trainable = {n for n, p in model.named_parameters()}
            row["parameters_from_weights"] = int(sum(w[k].size for k in w.files if k in trainable))
        rows.append(row)
    print("| config | input | tokens | parameters | GMACs | GFLOPs |\n|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %s | %.2f M | %.3f | %.3f |" % (os.path.basename(r["config"]), r["input_size"],
                                                         r.get("tokens", "-"), r["parameters"] / 1e6, r["gmacs"],
                                                         r["gflops"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
