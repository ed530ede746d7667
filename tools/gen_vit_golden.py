#!/usr/bin/python3
"""Golden reference for one ViT encoder block (src/models/vit/encoder_block.h).

Runs torch.nn.TransformerEncoderLayer (Debian python3-torch 1.13; GELU, batch_first, no dropout)
in pre-norm and post-norm form on a fixed random input and writes, per variant, under
tests/golden/vit/:
  block_<pre|post>.json          dim, heads, ff, input_shape, params {marrowscope name: file}
  block_<pre|post>_<param>.bin   raw little-endian float32 weights
  block_<pre|post>_input.bin / _output.bin
Usage: /usr/bin/python3 tools/gen_vit_golden.py   (from the repository root)
"""
import json
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "vit")
DIM, HEADS, FF = 16, 2, 32
SHAPE = (2, 5, DIM)
# marrowscope parameter name -> TransformerEncoderLayer parameter name
NAMES = {
    "in_proj.weight": "self_attn.in_proj_weight",
    "in_proj.bias": "self_attn.in_proj_bias",
    "out_proj.weight": "self_attn.out_proj.weight",
    "out_proj.bias": "self_attn.out_proj.bias",
    "linear1.weight": "linear1.weight",
    "linear1.bias": "linear1.bias",
    "linear2.weight": "linear2.weight",
    "linear2.bias": "linear2.bias",
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
}


def write(path, array):
    np.asarray(array, dtype="<f4").tofile(path)


def main():
    os.makedirs(OUT, exist_ok=True)
    for pre in (True, False):
        torch.manual_seed(4 if pre else 5)
        layer = torch.nn.TransformerEncoderLayer(DIM, HEADS, FF, dropout=0.0, activation="gelu",
                                                 batch_first=True, norm_first=pre)
        with torch.no_grad():  # non-trivial norms and biases so every parameter is exercised
            for name, p in layer.named_parameters():
                if name.startswith("norm") or name.endswith("bias"):
                    p.copy_(torch.randn_like(p) * 0.2 + (1.0 if name.endswith("weight") else 0.0))
        layer.eval()
        x = torch.randn(*SHAPE)
        # Grad mode on: keeps the reference on the plain (non-fused) path.
        y = layer(x).detach()
        stem = "block_pre" if pre else "block_post"
        params = dict(layer.named_parameters())
        files = {}
        for ours, theirs in NAMES.items():
            fname = ours.replace(".", "_") + ".bin"
            write(os.path.join(OUT, f"{stem}_{fname}"), params[theirs].detach().numpy())
            files[ours] = fname
        write(os.path.join(OUT, f"{stem}_input.bin"), x.numpy())
        write(os.path.join(OUT, f"{stem}_output.bin"), y.numpy())
        meta = {"dim": DIM, "heads": HEADS, "ff": FF, "input_shape": list(SHAPE),
                "pre_norm": pre, "params": files, "torch": torch.__version__}
        with open(os.path.join(OUT, f"{stem}.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
