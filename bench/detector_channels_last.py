#!/usr/bin/python3
"""The shipped detector's forward pass in PyTorch eager (the tools/gpu mirror, shipped weights, one
random 384 x 384 input), float32 and bf16 autocast, each in the default (contiguous) and the
channels-last memory format. LibTorch runs the same kernels, so this says whether channels-last
would pay in the C++ path.

    /usr/bin/python3 bench/detector_channels_last.py [threads=2] [seconds=4]
"""
import json
import os
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "tools", "gpu"))
import detector_mirror as dm  # noqa: E402
from peer_pytorch import load_state  # noqa: E402


def rate(fn, seconds):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4
    torch.set_num_threads(threads)
    folder = os.path.join(here, "..", "models", "detector")
    info = json.load(open(os.path.join(folder, "model.json")))
    m = dm.merge_config({"model": info["model"]})["model"]
    net = load_state(dm.DetectorNet(m), folder)
    x = torch.randn(1, 3, m["input_size"], m["input_size"], generator=torch.Generator().manual_seed(1))
    print(f"torch {torch.__version__}, {threads} thread(s), {m['input_size']} px, forward only")
    for precision in ("fp32", "bf16"):
        for layout in (torch.contiguous_format, torch.channels_last):
            mod = net.to(memory_format=layout)
            xi = x.contiguous(memory_format=layout)

            def forward():
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    return mod(xi)
            name = "channels_last" if layout == torch.channels_last else "contiguous"
            print(f"{precision} {name:13s} {rate(forward, seconds):6.1f} fields/s", flush=True)


if __name__ == "__main__":
    main()
