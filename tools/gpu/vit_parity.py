#!/usr/bin/python3
"""Parity check of the PyTorch classifier mirrors (tools/gpu/vit_model.py; the ResNet of
train_cnn_classifier.py for CNN configs) against the C++ model.

Builds a randomly initialised network from a C++ config in Python (weights scaled up so that the
attention is peaked, part selection picks clear winners and the softmax is far from uniform, which
makes any drift visible), writes it as a GPU run, imports it into a C++ model folder with
tools/gpu/import_classifier_weights.py, runs `marrowscope classify --json` on a few PBC cells, and
compares the C++ class probabilities with the Python softmax on the same pixels. The cells are
written as PNG files already at the model's cache side, so the C++ predictor neither resizes nor
recompresses them: both sides centre-crop identical pixels. Exits 1 when any probability differs
by more than --tol, or when the top classes differ.

    /usr/bin/python3 tools/gpu/vit_parity.py --config configs/classifier/ablation/vit_contrastive.json
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    from PIL import Image
except ImportError:  # ctest: SKIP_RETURN_CODE 77 (this interpreter has no torch)
    print("skipped: this interpreter has no torch/numpy/PIL (Debian: python3-torch python3-pil)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_vit_classifier import build_model, effective_config, forward_train  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/classifier/ablation/vit_contrastive.json")
    ap.add_argument("--data-root", default="../shared/data/pbc", help="folder-per-class PBC cells")
    ap.add_argument("--side", type=int, default=0, help="cell side in px (default: the config's cache side)")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--marrowscope", default="build/marrowscope")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--keep", default="", help="keep the imported model folder here")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    ns = argparse.Namespace(input_size=0, epochs=0, batch=0, lr=0.0, seed=None)
    cfg = effective_config(json.load(open(a.config)), ns)
    inp = cfg["model"]["input_size"]
    side = a.side or int(np.floor(inp / cfg["data"].get("crop_fraction", 0.875) + 0.5))
    if not os.path.isdir(a.data_root):  # CI without ../shared: nothing to compare on
        print("skipped: no %s" % a.data_root)
        sys.exit(77)
    classes = sorted(d for d in os.listdir(a.data_root) if os.path.isdir(os.path.join(a.data_root, d)))
    model = build_model(cfg["model"], len(classes))
    vit = cfg["model"].get("arch", "vit") == "vit"
    with torch.no_grad():  # sharpen a random ViT (see the module docstring); a random ResNet is sharp enough
        for name, p in model.named_parameters():
            if vit and p.ndim > 1 and "pos_embed" not in name and "token" not in name:
                p.mul_(3.0 if not name.startswith("head") else 60.0)
            elif not vit and name.endswith("weight") and p.ndim == 1:
                p.uniform_(0.5, 1.5)  # BatchNorm scales (zero-initialised on residual branches)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
    model.eval()
    mean, std = [0.87, 0.75, 0.72], [0.17, 0.19, 0.09]

    work = tempfile.mkdtemp(prefix="vit-parity-")
    try:
        run = os.path.join(work, "run")
        os.makedirs(run)
        np.savez(os.path.join(run, "weights.npz"), **{k: v.detach().numpy() for k, v in model.state_dict().items()})
        summary = {"classes": classes, "arch": cfg["model"].get("arch", "vit"), "input_size": inp,
                   "crop_fraction": inp / float(side), "pack_side": side,
                   "normalization": {"mean": mean, "std": std}, "config": cfg, "args": {"parity": True},
                   "epochs_planned": 0, "epochs_done": 0, "cut_short": False, "weights": "random",
                   "train_seconds": 0, "val_accuracy": 0, "val_macro_f1": 0, "train_cells": 0, "val_cells": 0,
                   "torch": torch.__version__, "device": "cpu"}
        json.dump(summary, open(os.path.join(run, "summary.json"), "w"))
        out = a.keep or os.path.join(work, "model")
        subprocess.run([sys.executable, os.path.join(HERE, "import_classifier_weights.py"), "--run", run, "--out",
                        out, "--version", "parity", "--command", "vit_parity.py", "--marrowscope", a.marrowscope,
                        "--data-root", a.data_root], check=True)

        # One cell per class (the first files), resized to the cache side with PIL, saved losslessly.
        paths, xs = [], []
        for c in classes[:a.images]:
            src = os.path.join(a.data_root, c, sorted(os.listdir(os.path.join(a.data_root, c)))[0])
            im = Image.open(src).convert("RGB").resize((side, side), Image.BOX)
            dst = os.path.join(work, c + ".png")
            im.save(dst)
            paths.append(dst)
            o = (side - inp) // 2
            x = torch.from_numpy(np.asarray(im)).permute(2, 0, 1).float()[:, o:o + inp, o:o + inp] / 255
            xs.append((x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1))
        with torch.no_grad():
            logits, _ = forward_train(model, torch.stack(xs))
            py = torch.softmax(logits.double(), 1).numpy()
            if hasattr(model, "part_selection") and model.part_selection is not None:
                _, _, att, sel = model.forward_features(torch.stack(xs))
                comb_gap = None
                cls_rows = torch.stack([t[:, :, 0, :] for t in att[:-1]], 1)
                sq = cls_rows[..., 1:].max(3)[0].reshape(len(xs), -1)
                ps = model.part_selection
                w = torch.sigmoid(ps.fc2(torch.relu(ps.fc1(sq)))).view(len(xs), ps.layers, ps.heads)
                comb = (cls_rows * w.unsqueeze(-1)).sum(1)[..., 1:].sort(2, descending=True)[0]
                comb_gap = float((comb[..., 0] - comb[..., 1]).min())
                print("part selection: tokens %s, smallest top-1/top-2 score gap %.2e" % (sel.tolist(), comb_gap))
        env = dict(os.environ, MARROWSCOPE_THREADS="1")
        r = subprocess.run([a.marrowscope, "classify", "--model", out, "--json", "--top", str(len(classes))] + paths,
                           env=env, stdout=subprocess.PIPE, check=True, universal_newlines=True)
        cpp = json.loads(r.stdout)
        worst, ok = 0.0, True
        for i, item in enumerate(cpp):
            prob = {t["class"]: t["probability"] for t in item["top"]}
            diff = max(abs(prob[c] - py[i, j]) for j, c in enumerate(classes))
            worst = max(worst, diff)
            top_py = classes[int(py[i].argmax())]
            ok &= item["class"] == top_py
            print("%s: C++ %s %.6f | Python %s %.6f | max |dp| %.2e" % (os.path.basename(item["image"]), item["class"],
                                                                        item["probability"], top_py, py[i].max(), diff))
        ok &= worst <= a.tol
        print("parity %s: max |p_C++ - p_Python| = %.2e (tolerance %.0e)" % ("OK" if ok else "FAILED", worst, a.tol))
        sys.exit(0 if ok else 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
