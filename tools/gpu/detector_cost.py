#!/usr/bin/python3
"""Parameters and compute per field of a C++ detector model folder or config (the speed line:
"the share of the machine's measured matmul GFLOP/s it reaches").

Builds the PyTorch mirror (tools/gpu/detector_mirror.py, the C++ network with its parameter names)
from the folder's model.json (or a config JSON), runs one forward pass at the input size with hooks
on every convolution, and counts multiply-accumulates: Cout x (Cin / groups) x kH x kW x Hout x Wout
per convolution (BatchNorm, activations, additions and the SE pooling are left out: they are a few
percent and run far below matmul speed anyway). GFLOPs = 2 x GMACs.
    /usr/bin/python3 tools/gpu/detector_cost.py models/detector [--json OUT]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detector_mirror as dm  # noqa: E402


def model_config(path):
    if os.path.isdir(path):
        return json.load(open(os.path.join(path, "model.json")))["model"]
    return dm.merge_config(json.load(open(path)))["model"]


def count(model_cfg):
    net = dm.DetectorNet(model_cfg).eval()
    macs = [0]

    def hook(mod, inputs, output):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        macs[0] += output.numel() // output.shape[0] * (mod.in_channels // mod.groups) * k

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    s = model_cfg["input_size"]
    with torch.no_grad():
        net(torch.zeros(1, 3, s, s))
    params = sum(p.numel() for p in net.parameters())
    return {"input_size": s, "parameters": params, "gmacs": macs[0] / 1e9, "gflops": 2 * macs[0] / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="C++ detector folder (model.json) or config JSON")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    out = dict(count(model_config(a.model)), model=a.model)
    print(json.dumps(out, indent=1))
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
