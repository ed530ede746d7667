#!/usr/bin/env python3
"""GPU training of a C++ classifier config (ViT or CNN) on a lent GPU machine (see docs/RESULTS.md).

Reads a `marrowscope train-classifier` config (configs/classifier/*.json) and trains the same
network with the same recipe in PyTorch, because the device machine has PyTorch and a GPU but
none of the C++ dependencies:
  - model: arch "vit" -> tools/gpu/vit_model.py (mirror of src/models/vit/*, C++ parameter names);
    arch "cnn" -> train_cnn_classifier.CnnClassifier (mirror of ms::CnnClassifier, ResNet-18);
  - optimiser: optim.kind adamw or sgd (Nesterov, optim.momentum), weight decay only on the tensors
    ClassifierNetImpl::split_decay decays, optim.lr with the C++ lr_factor schedule (linear
    warm-up, then cosine/step/constant) evaluated per step, optim.grad_clip (global L2 norm);
  - loss: cross-entropy with optim.label_smoothing + optim.contrastive_weight x the contrastive
    loss on the (class-token / pooled) embedding with optim.contrastive_margin;
  - batches: a seeded shuffle of the training cells each epoch, floor(N / batch) steps (the C++
    "shuffle" sampling; "balanced" sampling is not mirrored and is refused);
  - augmentation: data.augment in the C++ order (hflip, vflip, rot90, rotate, scale_crop, random
    crop of input_size from the cached cell, brightness, contrast, saturation, hue, noise), done
    per batch on the device: the geometric part is one affine warp per image (bilinear, uncovered
    area filled with the image's border mean as the C++ code does), the photometric part is
    element-wise, and nothing loops over samples in Python;
  - evaluation: centre crop of input_size from the pack cell (the C++ predictor's view).
The training cells come from the pack written by tools/gpu/make_pbc_cache.py (side = the C++
cache side, input_size / data.crop_fraction); normalisation is measured on the training cells.

Always finishes: with --time-limit T the run stops taking steps when the time left would not
cover the final evaluation and save, then evaluates, writes its files and records
"cut_short": true. Outputs in --out: weights.npz (C++ state-dict names; --save-dtype float16
halves it), summary.json (args, effective config, epochs done, seconds, img/s, validation
accuracy, macro-F1, per-class F1, confusion, parameters, MACs), metrics.jsonl (one line per epoch).
tools/gpu/import_classifier_weights.py turns the run into a C++ model folder.

    python3 tools/gpu/train_vit_classifier.py --config configs/classifier/ablation/vit_baseline.json \\
        --pack .gpu/pbc104 --out $OUT/vit_baseline --time-limit 400 --save-dtype float16
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_cnn_classifier import CnnClassifier, evaluate, load_pack  # noqa: E402
from lr_schedule import lr_factor  # noqa: E402
from vit_model import VisionTransformer, contrastive_loss, count_macs, split_decay  # noqa: E402

AUGMENT_DEFAULTS = {  # ms::AugmentOptions
    "hflip": 0.5, "vflip": 0.5, "rot90": 0.5, "rotate_prob": 0.0, "rotate_degrees": 0.0,
    "scale_prob": 0.0, "scale_min": 1.0, "scale_max": 1.0, "scale_shift": 1.0, "downsample_prob": 0.0,
    "downsample_min": 1.0, "stain_jitter_prob": 0.0, "stain_jitter": 0.0, "brightness": 0.0, "contrast": 0.0,
    "saturation": 0.0, "hue_degrees": 0.0, "gaussian_prob": 0.0, "gaussian_sigma": 0.0,
    "salt_pepper_prob": 0.0, "salt_pepper_amount": 0.0, "poisson_prob": 0.0, "poisson_peak": 0.0}
SCHEDULE_DEFAULTS = {"decay": "cosine", "warmup_epochs": 1.0, "step_epochs": [], "gamma": 0.1,
                     "min_lr_ratio": 0.01}
OPTIM_DEFAULTS = {"kind": "adamw", "lr": 1e-3, "weight_decay": 0.05, "momentum": 0.9, "batch_size": 64,
                  "epochs": 60, "label_smoothing": 0.1, "contrastive_weight": 1.0,
                  "contrastive_margin": 0.4, "grad_clip": 1.0}


def effective_config(cfg, a):
    """The config with C++ defaults filled in and the command-line overrides applied."""
    c = copy.deepcopy(cfg)
    c.setdefault("data", {})
    c["data"]["augment"] = dict(AUGMENT_DEFAULTS, **c["data"].get("augment", {}))
    # The C++ trainer's centred zoom, resolution loss and stain-matrix jitter are not mirrored
    # here: refuse them rather than train on a different recipe.
    aug = c["data"]["augment"]
    if aug["scale_shift"] != 1.0 or aug["downsample_prob"] > 0 or aug["stain_jitter_prob"] > 0:
        raise ValueError("data.augment.scale_shift != 1, downsample_prob > 0 and stain_jitter_prob > 0 "
                         "are C++-trainer only")
    c["optim"] = dict(OPTIM_DEFAULTS, **c.get("optim", {}))
    c["optim"]["schedule"] = dict(SCHEDULE_DEFAULTS, **c["optim"].get("schedule", {}))
    c.setdefault("seed", 1)
    if a.input_size:
        c["model"]["input_size"] = a.input_size
    if a.epochs:
        c["optim"]["epochs"] = a.epochs
    if a.batch:
        c["optim"]["batch_size"] = a.batch
    if a.lr:
        c["optim"]["lr"] = a.lr
    if a.seed is not None:
        c["seed"] = a.seed
    if c["data"].get("sampling", "shuffle") != "shuffle":
        raise SystemExit("data.sampling %r is not mirrored (only shuffle)" % c["data"]["sampling"])
    return c


def build_model(model_cfg, num_classes):
    if model_cfg.get("arch", "vit") == "vit":
        return VisionTransformer(model_cfg.get("vit", {}), model_cfg["input_size"], num_classes)
    cnn = model_cfg.get("cnn", {})
    bb = cnn.get("backbone", {})
    if bb.get("depth", 18) != 18 or bb.get("norm", "batch") != "batch" or bb.get("frozen_stages", 0) != 0 \
            or not bb.get("zero_init_residual", True):
        raise SystemExit("model.cnn.backbone: only the ResNet-18, batch norm, unfrozen, zero-init "
                         "residual backbone is mirrored")
    return CnnClassifier(bb.get("width", 1.0), num_classes, cnn.get("dropout", 0.0))


def forward_train(model, x):
    """-> (logits [B,C], embedding [B,D]) as ClassifierOutput.logits/.embedding."""
    if isinstance(model, VisionTransformer):
        logits, emb, _, _ = model.forward_features(x)
        return logits, emb
    emb = model.backbone(x).mean((2, 3))
    return model.head(F.dropout(emb, model.dropout, model.training)), emb


def grey(y):
    return 0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3]  # cv::COLOR_BGR2GRAY weights


def hue_shift(y, degrees):
    """HSV hue rotation keeping V and chroma (the hexcone model, as ms::adjust_hue)."""
    r, g, b = y[:, 0], y[:, 1], y[:, 2]
    v, _ = y.max(1)
    c = v - y.min(1)[0]
    cs = c.clamp_min(1e-12)
    h = torch.where(v == r, ((g - b) / cs) % 6, torch.where(v == g, (b - r) / cs + 2, (r - g) / cs + 4))
    h = torch.where(c > 0, h, torch.zeros_like(h)) + (degrees.view(-1, 1, 1) / 60.0)
    out = []
    for n in (5, 3, 1):  # R, G, B of hsv->rgb: V - C * clamp(min(k, 4 - k), 0, 1), k = (n + H) mod 6
        k = (n + h) % 6
        out.append(v - c * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(out, 1)


def affine_inverse(m):
    """Inverse of a batch of 2-D affine maps [B,3,3] in closed form (no solver, no device sync)."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    det = a * d - b * c
    inv = torch.zeros_like(m)
    inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 0], inv[:, 1, 1] = d / det, -b / det, -c / det, a / det
    inv[:, :2, 2] = -(inv[:, :2, :2] @ m[:, :2, 2:]).squeeze(-1)
    inv[:, 2, 2] = 1
    return inv


def augment(x, aug, out, g):
    """x: [B,3,S,S] float RGB in [0,1] (the cached cells) -> [B,3,out,out], ms::random_augment
    followed by the trainer's random crop, all per-sample draws made on the device."""
    b, s, dev = x.shape[0], x.shape[-1], x.device
    rand = lambda *shape: torch.rand(*shape, generator=g, device=dev)
    chance = lambda p: rand(b) < p
    eye = torch.eye(3, device=dev).expand(b, 3, 3).clone()

    def mat(a11, a12, a21, a22, tx, ty):
        m = eye.clone()
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1], m[:, 0, 2], m[:, 1, 2] = a11, a12, a21, a22, tx, ty
        return m

    one, zero = torch.ones(b, device=dev), torch.zeros(b, device=dev)
    c = s / 2.0
    about_centre = lambda m: mat(one, zero, zero, one, c * one, c * one) @ m @ mat(one, zero, zero, one, -c * one, -c * one)
    # Forward map source pixel -> output pixel (continuous coordinates, pixel i covers [i, i+1)).
    fx = torch.where(chance(aug["hflip"]), -one, one)
    fy = torch.where(chance(aug["vflip"]), -one, one)
    k = torch.where(chance(aug["rot90"]), torch.randint(1, 4, (b,), generator=g, device=dev).float(), zero)
    ang = k * (math.pi / 2)
    if aug["rotate_degrees"] > 0:
        ang = ang + torch.where(chance(aug["rotate_prob"]),
                                (rand(b) * 2 - 1) * math.radians(aug["rotate_degrees"]), zero)
    cos, sin = torch.cos(ang), torch.sin(ang)
    m = about_centre(mat(cos * fx, -sin * fy, sin * fx, cos * fy, zero, zero))
    scaled = chance(aug["scale_prob"])
    scale = aug["scale_min"] + (aug["scale_max"] - aug["scale_min"]) * rand(b)
    sw = torch.where(scaled, torch.round(s * scale).clamp_min(1), s * one)
    lo, hi = torch.minimum(zero, sw - s), torch.maximum(zero, sw - s)
    dx = lo + torch.floor(rand(b) * (hi - lo + 1))
    dy = lo + torch.floor(rand(b) * (hi - lo + 1))
    f = sw / s
    m = mat(f, zero, zero, f, -dx, -dy) @ m
    slack = s - out
    ox, oy = torch.floor(rand(b) * (slack + 1)), torch.floor(rand(b) * (slack + 1))
    m = mat(one, zero, zero, one, -ox, -oy) @ m
    # theta maps output normalised coords (over `out`) to source normalised coords (over `s`).
    to_norm_src = mat(2.0 / s * one, zero, zero, 2.0 / s * one, -one, -one)
    from_norm_out = mat(out / 2.0 * one, zero, zero, out / 2.0 * one, out / 2.0 * one, out / 2.0 * one)
    theta = (to_norm_src @ affine_inverse(m) @ from_norm_out)[:, :2]
    grid = F.affine_grid(theta, (b, 4, out, out), align_corners=False)
    fill = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], -1).mean(-1)  # [B,3]
    xm = torch.cat([x, torch.ones_like(x[:, :1])], 1)
    y = F.grid_sample(xm, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    cover = y[:, 3:]
    y = y[:, :3] + (1 - cover) * fill.view(b, 3, 1, 1)
    u = lambda v: (1 - v) + 2 * v * rand(b, 1, 1, 1)  # uniform in 1 +- v
    if aug["brightness"] > 0:
        y = (y + (rand(b, 1, 1, 1) * 2 - 1) * aug["brightness"]).clamp(0, 1)
    if aug["contrast"] > 0:
        mg = grey(y).mean((1, 2, 3), keepdim=True)
        y = (mg + u(aug["contrast"]) * (y - mg)).clamp(0, 1)
    if aug["saturation"] > 0:
        gr = grey(y)
        y = (gr + u(aug["saturation"]) * (y - gr)).clamp(0, 1)
    if aug["hue_degrees"] > 0:
        y = hue_shift(y, (rand(b) * 2 - 1) * aug["hue_degrees"]).clamp(0, 1)
    if aug["gaussian_sigma"] > 0 and aug["gaussian_prob"] > 0:
        n = torch.randn(y.shape, generator=g, device=dev) * aug["gaussian_sigma"]
        y = (y + n * chance(aug["gaussian_prob"]).view(b, 1, 1, 1)).clamp(0, 1)
    if aug["poisson_prob"] > 0:
        peak = aug["poisson_peak"]
        noisy = torch.poisson(y * peak, generator=g) / peak
        y = torch.where(chance(aug["poisson_prob"]).view(b, 1, 1, 1), noisy, y).clamp(0, 1)
    if aug["salt_pepper_amount"] > 0 and aug["salt_pepper_prob"] > 0:
        r = rand(b, 1, out, out)
        hit = chance(aug["salt_pepper_prob"]).view(b, 1, 1, 1) & (r < aug["salt_pepper_amount"])
        white = (r >= aug["salt_pepper_amount"] / 2).float()  # half of the hit pixels black, half white
        y = torch.where(hit, white.expand_as(y), y)
    return y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="C++ classifier config (configs/classifier/*.json)")
    ap.add_argument("--pack", required=True, help="folder written by tools/gpu/make_pbc_cache.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--input-size", type=int, default=0, help="override model.input_size")
    ap.add_argument("--epochs", type=int, default=0, help="override optim.epochs")
    ap.add_argument("--batch", type=int, default=0, help="override optim.batch_size")
    ap.add_argument("--lr", type=float, default=0.0, help="override optim.lr")
    ap.add_argument("--seed", type=int, default=None, help="override seed")
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="seconds from start; stop early (cut_short) so that the files are written before it")
    ap.add_argument("--save-dtype", choices=("float32", "float16"), default="float32")
    ap.add_argument("--keep", choices=("last", "best"), default="last",
                    help="weights to save: the last step's, or the best validation accuracy seen (as the C++ "
                         "trainer exports its best epoch)")
    ap.add_argument("--eval-every", type=int, default=5, help="epochs between validation passes")
    ap.add_argument("--save-every", type=int, default=0, help="epochs between interim saves (0 = only at the end)")
    ap.add_argument("--limit", type=int, default=0, help="use the first N training cells and N/4 val cells (smoke tests)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    t_start = time.time()
    if a.threads:
        torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    cfg = effective_config(json.load(open(a.config)), a)
    optim, aug = cfg["optim"], cfg["data"]["augment"]
    inp = cfg["model"]["input_size"]
    torch.manual_seed(cfg["seed"])
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    xtr, ytr, classes, _ = load_pack(a.pack, "train")
    xva, yva, _, _ = load_pack(a.pack, "val", classes)
    if a.limit:
        rng = np.random.default_rng(0)  # a class-mixed subset: the lists are sorted by class
        tr, va = rng.permutation(len(xtr))[:a.limit], rng.permutation(len(xva))[:max(1, a.limit // 4)]
        xtr, ytr, xva, yva = xtr[tr], ytr[tr], xva[va], yva[va]
    side = xtr.shape[1]
    if side < inp:
        raise SystemExit("pack cells are %d px, smaller than the input %d" % (side, inp))
    cf = cfg["data"].get("crop_fraction", 0.875)
    if int(math.floor(inp / cf + 0.5)) != side:
        print("note: config crop_fraction %.4f means %d px cells; the pack has %d px, so the model uses "
              "crop_fraction %.6f" % (cf, int(math.floor(inp / cf + 0.5)), side, inp / side), flush=True)
    xtr = torch.from_numpy(xtr).permute(0, 3, 1, 2).contiguous().to(dev)
    xva = torch.from_numpy(xva).permute(0, 3, 1, 2).contiguous().to(dev)
    ytr, yva = torch.from_numpy(ytr).to(dev), torch.from_numpy(yva).to(dev)
    f = xtr.float() / 255
    mean = f.mean((0, 2, 3)).view(1, 3, 1, 1)
    std = ((f - mean) ** 2).mean((0, 2, 3)).sqrt().view(1, 3, 1, 1)  # population std, as cv::meanStdDev
    del f
    nc = len(classes)

    model = build_model(cfg["model"], nc).to(dev)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    macs = count_macs(model, inp)
    if not isinstance(model, VisionTransformer):
        model = model.to(memory_format=torch.channels_last)
    decay, no_decay = split_decay(model)
    groups = [{"params": decay, "weight_decay": optim["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    if optim["kind"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=optim["lr"], **({"foreach": True} if cuda else {}))
    elif optim["kind"] == "sgd":
        opt = torch.optim.SGD(groups, lr=optim["lr"], momentum=optim["momentum"], nesterov=True)
    else:
        raise SystemExit("optim.kind %r: expected adamw or sgd" % optim["kind"])
    batch = optim["batch_size"]
    steps_per_epoch = max(1, len(xtr) // batch)
    epochs = optim["epochs"]
    print("%s: %d parameters, %.3f GMACs/cell, %d train / %d val cells at %d px (input %d), %d steps/epoch, "
          "%d epochs, %s, loaded in %.1f s" % (cfg.get("name", "?"), params, macs / 1e9, len(xtr), len(xva), side,
                                               inp, steps_per_epoch, epochs, dev, time.time() - t_start), flush=True)

    def norm(x_u8_float):
        x = (x_u8_float - mean) / std
        return x if isinstance(model, VisionTransformer) else x.contiguous(memory_format=torch.channels_last)

    def run_eval():
        return evaluate(model, xva, yva, inp, mean, std, num_classes=nc) if len(xva) else (0.0, 0.0, [], [])

    # Time the evaluation (and warm it up) so that --time-limit can keep room for the final one.
    te = time.time()
    run_eval()
    t_eval = time.time() - te
    reserve = 2 * t_eval + 3.0

    g = torch.Generator(device=dev)
    g.manual_seed(cfg["seed"])
    log = open(os.path.join(a.out, "metrics.jsonl"), "w")
    step, t_train, cut_short, epochs_done = 0, 0.0, False, 0.0
    best = {"val_accuracy": -1.0}
    best_state = None
    for epoch in range(1, epochs + 1):
        model.train()
        t_ep = time.time()
        perm = torch.randperm(len(xtr), generator=g, device=dev)
        sums = torch.zeros(4, device=dev)  # loss, ce, contrastive, correct (summed over samples)
        seen = 0
        for i in range(steps_per_epoch):
            if a.time_limit and time.time() - t_start + reserve > a.time_limit:
                cut_short = True
                break
            idx = perm[i * batch:(i + 1) * batch]
            xb = norm(augment(xtr[idx].float() / 255, aug, inp, g))
            yb = ytr[idx]
            lr = optim["lr"] * lr_factor(optim["schedule"], step, steps_per_epoch, epochs)
            for gr in opt.param_groups:
                gr["lr"] = lr
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                logits, emb = forward_train(model, xb)
            logits, emb = logits.float(), emb.float()
            ce = F.cross_entropy(logits, yb, label_smoothing=optim["label_smoothing"])
            loss = ce
            con = torch.zeros((), device=dev)
            if optim["contrastive_weight"] > 0:
                con = contrastive_loss(emb, yb, optim["contrastive_margin"])
                loss = loss + optim["contrastive_weight"] * con
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if optim["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), optim["grad_clip"])
            opt.step()
            step += 1
            n = yb.shape[0]
            seen += n
            with torch.no_grad():
                sums += torch.stack([loss.detach() * n, ce.detach() * n, con.detach() * n,
                                     (logits.argmax(1) == yb).sum().float()])
        if cuda:
            torch.cuda.synchronize()
        dt = time.time() - t_ep
        t_train += dt
        if seen == 0:
            break
        epochs_done = epoch - 1 + seen / float(steps_per_epoch * batch)
        s = (sums / seen).tolist()
        rec = {"epoch": epoch, "step": step, "lr": lr, "train_loss": s[0], "train_ce": s[1],
               "train_contrastive": s[2], "train_accuracy": s[3], "img_per_s": seen / max(dt, 1e-9),
               "train_seconds": t_train, "elapsed": time.time() - t_start}
        last = epoch == epochs or cut_short
        if epoch % a.eval_every == 0 or last:
            acc, mf1, _, _ = run_eval()
            rec.update({"val_accuracy": acc, "val_macro_f1": mf1})
            if a.keep == "best" and acc > best["val_accuracy"]:
                best = {"val_accuracy": acc, "epoch": epoch}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            print("epoch %d/%d loss %.4f (ce %.4f con %.4f) train acc %.3f | val acc %.4f f1 %.4f | %.0f img/s | %.0f s"
                  % (epoch, epochs, s[0], s[1], s[2], s[3], acc, mf1, rec["img_per_s"], rec["elapsed"]), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if cut_short:
            break
        if a.save_every and epoch % a.save_every == 0 and epoch < epochs:
            save_run(a, cfg, model, classes, mean, std, side, xva, yva, nc, params, macs, epochs_done,
                     t_train, step, time.time() - t_start, True, None)
    if a.keep == "best" and best_state is not None:
        model.load_state_dict(best_state)
    save_run(a, cfg, model, classes, mean, std, side, xva, yva, nc, params, macs, epochs_done, t_train,
             step, time.time() - t_start, False, best if a.keep == "best" else None, cut_short)
    print(json.dumps({k: v for k, v in json.load(open(os.path.join(a.out, "summary.json"))).items()
                      if k in ("val_accuracy", "val_macro_f1", "epochs_done", "cut_short", "seconds", "img_per_s")}))


def save_run(a, cfg, model, classes, mean, std, side, xva, yva, nc, params, macs, epochs_done,
             t_train, steps, seconds, interim, best, cut_short=False):
    """weights.npz + summary.json, each written to a temporary name and renamed (atomic)."""
    acc, mf1, conf, f1 = evaluate(model, xva, yva, cfg["model"]["input_size"], mean, std, num_classes=nc) \
        if len(xva) else (0.0, 0.0, [], [])
    dt = np.float16 if a.save_dtype == "float16" else np.float32
    sd = {k: (v.detach().float().cpu().numpy().astype(dt) if v.dtype.is_floating_point else v.cpu().numpy())
          for k, v in model.state_dict().items()}
    tmp = os.path.join(a.out, "weights.tmp.npz")
    np.savez(tmp, **sd)
    os.replace(tmp, os.path.join(a.out, "weights.npz"))
    inp = cfg["model"]["input_size"]
    dev = xva.device
    summary = {
        "classes": classes, "arch": cfg["model"].get("arch", "vit"), "input_size": inp,
        "crop_fraction": inp / float(side), "pack_side": int(side),
        "normalization": {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()},
        "config": cfg, "args": vars(a), "epochs_planned": cfg["optim"]["epochs"], "epochs_done": epochs_done,
        "steps": steps, "cut_short": bool(cut_short), "interim": bool(interim), "weights": a.keep,
        "best": best, "seconds": seconds, "train_seconds": t_train,
        "img_per_s": steps * cfg["optim"]["batch_size"] / max(t_train, 1e-9),
        "val_accuracy": acc, "val_macro_f1": mf1, "val_per_class_f1": dict(zip(classes, f1)), "confusion": conf,
        "parameters": params, "macs_per_cell": macs, "gmacs_per_cell": macs / 1e9, "gflops_per_cell": 2 * macs / 1e9,
        "train_cells": None, "val_cells": int(len(xva)), "save_dtype": a.save_dtype,
        "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
    }
    summary["train_cells"] = int(a.limit) if a.limit else sum(1 for _ in open(os.path.join(a.pack, "train.txt")))
    tmp = os.path.join(a.out, "summary.tmp.json")
    with open(tmp, "w") as fh:
        json.dump(summary, fh, indent=1)
    os.replace(tmp, os.path.join(a.out, "summary.json"))


if __name__ == "__main__":
    main()
