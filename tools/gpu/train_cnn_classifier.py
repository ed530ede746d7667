#!/usr/bin/env python3
"""GPU training of the shipped CNN cell classifier, for a lent GPU machine (see docs/RESULTS.md).

The C++ trainer (`marrowscope train-classifier`) is the product's trainer and runs on CPU; this
script exists because the device machine that is sometimes lent has PyTorch and a GPU but none of
the C++ dependencies (OpenCV, CLI11, ...). It builds a module with exactly the parameter names and
forward pass of ms::CnnClassifier (src/models/classifier/cnn_classifier.cpp over
src/models/backbone/resnet.cpp: ResNet stem/layerN/branch/shortcut, global average pooling,
dropout, linear head), trains it on the square JPEG pack written by tools/gpu/make_pbc_cache.py,
and writes the weights as NumPy arrays (weights.npz) plus the run's config and per-epoch metrics.
tools/gpu/import_classifier_weights.py then writes them into the C++ model folder format, and the
C++ `eval-classifier` re-measures the imported model, so the shipped numbers come from the C++
inference path, not from this script.

Pre-processing matches the C++ predictor: the pack holds cells resized to SIDE x SIDE (SIDE =
round(input / crop_fraction)); evaluation takes the central input x input crop; RGB in [0,1],
normalised with the model's mean/std. Training augments on the GPU: dihedral flips/rotations,
a small random rotation, scale and shift (one affine warp with reflection padding), brightness,
contrast, saturation and per-channel stain gain.

    python3 tools/gpu/train_cnn_classifier.py --pack .gpu/pbc146 --out $OUT/run --epochs 150
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def conv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.branch = nn.Sequential(conv(cin, cout, 3, stride), nn.BatchNorm2d(cout), nn.ReLU(),
                                    conv(cout, cout, 3, 1), nn.BatchNorm2d(cout))
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(self.branch(x) + idt)


class ResNet(nn.Module):
    def __init__(self, width, blocks=(2, 2, 2, 2)):
        super().__init__()
        sc = lambda c: max(1, int(round(c * width)))
        stem = sc(64)
        self.stem = nn.Sequential(conv(3, stem, 7, 2), nn.BatchNorm2d(stem), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        cin = stem
        for s in range(4):
            cout = sc(64 << s)
            layer = nn.Sequential(*[Block(cin if b == 0 else cout, cout, 2 if (b == 0 and s > 0) else 1)
                                    for b in range(blocks[s])])
            setattr(self, "layer%d" % (s + 1), layer)
            cin = cout
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # zero_init_residual: the last norm of each branch starts at 0
            if isinstance(m, Block):
                nn.init.zeros_(m.branch[4].weight)

    def forward(self, x):
        x = self.stem(x)
        for s in range(4):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return x


class CnnClassifier(nn.Module):
    def __init__(self, width, num_classes, dropout):
        super().__init__()
        self.backbone = ResNet(width)
        self.head = nn.Linear(self.backbone.out_channels, num_classes)
        self.dropout = dropout

    def forward(self, x):
        e = self.backbone(x).mean((2, 3))
        return self.head(F.dropout(e, self.dropout, self.training))


def ema_update(ema, model, step, decay):
    """Exponential moving average of the weights (buffers copied), with the usual warm-up of the
    decay, (1 + step) / (10 + step), so early averages are not dominated by the initial weights."""
    with torch.no_grad():
        d = min(decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                ema[k].copy_(v)


def load_pack(pack, part, classes=None):
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(pack, part + ".txt"))]
    if classes is None:
        classes = sorted({c for c, _ in rows})
    idx = {c: i for i, c in enumerate(classes)}
    imgs = np.stack([np.asarray(Image.open(os.path.join(pack, p)).convert("RGB")) for _, p in rows])
    labels = np.array([idx[c] for c, _ in rows], dtype=np.int64)
    return imgs, labels, classes, [p for _, p in rows]


def augment(x, g, out, a):
    """x: [B,3,S,S] float in [0,1] on the GPU -> [B,3,out,out]. One affine warp per image."""
    b, dev = x.shape[0], x.device
    s_in = x.shape[-1]
    k = torch.randint(0, 4, (b,), generator=g, device=dev).float() * (math.pi / 2)
    ang = k + (torch.rand(b, generator=g, device=dev) * 2 - 1) * math.radians(a.rotate)
    scale = torch.exp((torch.rand(b, generator=g, device=dev) * 2 - 1) * math.log(a.scale))
    flip = torch.where(torch.rand(b, generator=g, device=dev) < 0.5, -1.0, 1.0)
    shift = (torch.rand(b, 2, generator=g, device=dev) * 2 - 1) * (a.shift / (s_in / 2))
    # Output grid spans the central `out` pixels of the input at scale 1 (as the eval centre crop).
    f = (out / s_in) / scale
    cos, sin = torch.cos(ang) * f, torch.sin(ang) * f
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (b, 3, out, out), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=g, device=dev)
    y = y * u(1 - a.brightness, 1 + a.brightness)
    m = y.mean((1, 2, 3), keepdim=True)
    y = (y - m) * u(1 - a.contrast, 1 + a.contrast) + m
    grey = (0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3])
    y = (y - grey) * u(1 - a.saturation, 1 + a.saturation) + grey
    gain = 1 + (torch.rand(b, 3, 1, 1, generator=g, device=dev) * 2 - 1) * a.stain
    return (y * gain).clamp(0, 1)


def centre(x, out):
    o = (x.shape[-1] - out) // 2
    return x[..., o:o + out, o:o + out]


def evaluate(model, x_u8, y, out, mean, std, bs=1024, num_classes=None):
    """Centre-crop evaluation -> (accuracy, macro-F1, confusion (rows = truth), per-class F1).
    num_classes: size of the confusion matrix (default: largest label + 1)."""
    model.eval()
    preds = []
    with torch.no_grad(), torch.autocast(x_u8.device.type, dtype=torch.bfloat16,
                                         enabled=x_u8.device.type == "cuda"):
        for i in range(0, len(x_u8), bs):
            xb = centre(x_u8[i:i + bs].float() / 255, out)
            xb = ((xb - mean) / std).contiguous(memory_format=torch.channels_last)
            preds.append(model(xb).float().argmax(1))
    p = torch.cat(preds)
    n = num_classes or int(y.max().item()) + 1
    conf = torch.zeros(n, n, dtype=torch.long, device=y.device)
    conf.index_put_((y, p), torch.ones_like(y), accumulate=True)
    acc = (p == y).float().mean().item()
    tp = conf.diag().float()
    prec = tp / conf.sum(0).clamp(min=1)
    rec = tp / conf.sum(1).clamp(min=1)
    f1 = 2 * prec * rec / (prec + rec).clamp(min=1e-12)
    return acc, f1.mean().item(), conf.cpu().tolist(), f1.cpu().tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--input", type=int, default=128)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--rotate", type=float, default=20.0)
    ap.add_argument("--scale", type=float, default=1.15)
    ap.add_argument("--shift", type=float, default=6.0)
    ap.add_argument("--brightness", type=float, default=0.1)
    ap.add_argument("--contrast", type=float, default=0.15)
    ap.add_argument("--saturation", type=float, default=0.15)
    ap.add_argument("--stain", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=25, help="epochs between interim weights")
    ap.add_argument("--limit", type=int, default=0, help="use the first N cells (smoke tests)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True

    t0 = time.time()
    xtr, ytr, classes, _ = load_pack(a.pack, "train")
    xva, yva, _, _ = load_pack(a.pack, "val", classes)
    if a.limit:
        xtr, ytr, xva, yva = xtr[:a.limit], ytr[:a.limit], xva[:a.limit // 4], yva[:a.limit // 4]
    xtr = torch.from_numpy(xtr).permute(0, 3, 1, 2).contiguous().to(dev)
    xva = torch.from_numpy(xva).permute(0, 3, 1, 2).contiguous().to(dev)
    ytr, yva = torch.from_numpy(ytr).to(dev), torch.from_numpy(yva).to(dev)
    # Normalisation from the training cells (RGB, [0,1]), stored with the model like the C++ run.
    f = xtr.float() / 255
    mean = f.mean((0, 2, 3)).view(1, 3, 1, 1)
    std = f.std((0, 2, 3)).view(1, 3, 1, 1)
    del f
    print("loaded %d train / %d val cells, %d classes in %.1f s" % (len(xtr), len(xva), len(classes),
                                                                      time.time() - t0), flush=True)

    model = CnnClassifier(a.width, len(classes), a.dropout).to(dev).to(memory_format=torch.channels_last)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(xtr) // a.batch
    total = steps_per_epoch * a.epochs
    warm = steps_per_epoch * a.warmup

    def lr_at(step):
        if step < warm:
            return a.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return a.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))

    g = torch.Generator(device=dev)
    g.manual_seed(a.seed)
    log = open(os.path.join(a.out, "metrics.jsonl"), "w")
    step, t_train = 0, 0.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        te = time.time()
        perm = torch.randperm(len(xtr), generator=g, device=dev)
        loss_sum, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            xb = augment(xtr[idx].float() / 255, g, a.input, a)
            xb = ((xb - mean) / std).contiguous(memory_format=torch.channels_last)
            for gr in opt.param_groups:
                gr["lr"] = lr_at(step)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), ytr[idx], label_smoothing=a.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            ema_update(ema, model, step, a.ema)
            with torch.no_grad():
                loss_sum += loss.item() if i == steps_per_epoch - 1 else 0.0
                correct += (logits.argmax(1) == ytr[idx]).sum()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t_train += time.time() - te
        rec = {"epoch": epoch, "lr": lr_at(step - 1), "loss_last": loss_sum,
               "train_accuracy": correct.item() / (steps_per_epoch * a.batch),
               "img_per_s": steps_per_epoch * a.batch / (time.time() - te), "train_seconds": t_train}
        if epoch % 10 == 0 or epoch == a.epochs:
            acc, mf1, _, _ = evaluate(model, xva, yva, a.input, mean, std)
            live = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(ema)
            eacc, emf1, _, _ = evaluate(model, xva, yva, a.input, mean, std)
            model.load_state_dict(live)
            rec.update({"val_accuracy": acc, "val_macro_f1": mf1, "ema_val_accuracy": eacc,
                        "ema_val_macro_f1": emf1})
            print("epoch %d/%d acc %.4f f1 %.4f | ema acc %.4f f1 %.4f | %.0f img/s" % (
                epoch, a.epochs, acc, mf1, eacc, emf1, rec["img_per_s"]), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if epoch % a.save_every == 0 and epoch < a.epochs:
            save_run(a, model, ema, xtr, xva, yva, classes, mean, std, t_train, epoch)

    save_run(a, model, ema, xtr, xva, yva, classes, mean, std, t_train, a.epochs)
    print(open(os.path.join(a.out, "summary.json")).read()[:400])


def save_run(a, model, ema, xtr, xva, yva, classes, mean, std, t_train, epoch):
    """Writes weights.npz + summary.json (atomically) for the weights as they are after `epoch`.
    Ships the EMA weights when they are at least as good on validation (after a cosine schedule
    they almost always are); the choice is recorded in summary.json."""
    acc, mf1, conf, f1 = evaluate(model, xva, yva, a.input, mean, std)
    live = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema)
    eacc, emf1, econf, ef1 = evaluate(model, xva, yva, a.input, mean, std)
    model.load_state_dict(live)
    use_ema = eacc >= acc
    chosen = ema if use_ema else live
    sd = {k: v.detach().float().cpu().numpy() if v.dtype.is_floating_point else v.cpu().numpy()
          for k, v in chosen.items()}
    np.savez(os.path.join(a.out, "weights.tmp.npz"), **sd)
    os.replace(os.path.join(a.out, "weights.tmp.npz"), os.path.join(a.out, "weights.npz"))
    summary = {
        "classes": classes, "input_size": a.input, "crop_fraction": a.input / xtr.shape[-1],
        "pack_side": int(xtr.shape[-1]), "epoch": epoch,
        "normalization": {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()},
        "weights": "ema" if use_ema else "live",
        "val_accuracy": eacc if use_ema else acc, "val_macro_f1": emf1 if use_ema else mf1,
        "val_per_class_f1": dict(zip(classes, ef1 if use_ema else f1)),
        "confusion": econf if use_ema else conf,
        "live": {"val_accuracy": acc, "val_macro_f1": mf1}, "ema": {"val_accuracy": eacc, "val_macro_f1": emf1},
        "train_seconds": t_train,
        "device": torch.cuda.get_device_name(0) if xtr.device.type == "cuda" else "cpu",
        "torch": torch.__version__, "args": vars(a), "train_cells": len(xtr), "val_cells": len(xva),
    }
    with open(os.path.join(a.out, "summary.tmp.json"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(a.out, "summary.tmp.json"), os.path.join(a.out, "summary.json"))


if __name__ == "__main__":
    main()
