#!/usr/bin/env python3
"""GPU training of the C++ RetinaNet detector family, for a lent GPU machine (see docs/RESULTS.md).

The product's trainer is `marrowscope train-detector` (C++, CPU). The lent device machine has
PyTorch and a GPU but none of the C++ dependencies, so this script trains the same network there:
tools/gpu/detector_mirror.py mirrors src/models/** with the C++ parameter names, reads the same
config JSON (configs/detector/*.json), and this file adds the data path, the augmentation, the
optimiser and the evaluation. tools/gpu/import_detector_weights.py writes the weights into a C++
model folder and `marrowscope eval-detector` re-measures it with the C++ inference path.

Data: the pack of tools/gpu/make_txl_pack.py (fields letterboxed to SIDE x SIDE JPEGs + YOLO
labels + index.json). The whole pack is decoded once, resized to the input size (area filter) and
kept on the device as uint8; every batch is augmented on the device as the config's `augment`
section says (data/augment.h order: hflip, vflip, rot90, scale_crop, channel gain, brightness, contrast,
saturation, hue, noise). Ground-truth boxes are the YOLO boxes in the original field's pixels,
clipped, mapped by the C++ letterbox (original -> input) exactly; validation detections are mapped
back to the original pixels by its inverse and scored by a mirror of
src/engine/metrics/detection_metrics.cpp (COCO AP over IoU 0.50:0.95, AP50/75/90, AR100).

    python3 tools/gpu/train_detector.py --pack .gpu/txl448 --config configs/detector/shipped_v2.json \
        --out $OUT/det --input-size 448 --epochs auto --time-limit 420 --device cuda

Writes OUT/weights.npz (state dict, C++ names), OUT/summary.json, OUT/metrics.jsonl.
The process always finishes before --time-limit seconds (counted from its start): with a fixed
--epochs the limit cuts training short ("cut_short": true) and the last weights are evaluated
and saved; with --epochs auto the epoch count (and the cosine length) is chosen after epoch 1.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detector_mirror as dm  # noqa: E402
from lr_schedule import lr_factor  # noqa: E402

T0 = time.time()


# ---------------------------------------------------------------------------------------------
# Classes (engine/detector/class_mapping.cpp rules 1-4).

def _paren(name):
    c = name.rfind(")")
    if c < 0:
        return ""
    o = name.rfind("(", 0, c)
    return name[o + 1:c].strip() if o >= 0 else ""


def _unnumbered(name):
    i = 0
    while i < len(name) and name[i].isdigit():
        i += 1
    if i == 0 or i >= len(name) or name[i] != " ":
        return ""
    return name[i + 1:].strip()


def map_classes(dataset_classes, model_classes, class_map=""):
    entries = {}
    for e in [x for x in class_map.split(",") if x.strip()]:
        k, v = e.split("=", 1)
        entries[k.strip()] = v.strip()
    out, unmatched = [], []
    for d in dataset_classes:
        keys = [d, _unnumbered(d), _paren(d)]
        target = None
        for k in keys:
            if k and k in entries:
                target = entries[k]
                break
        if target is not None:
            out.append(-1 if target == "" else model_classes.index(target))
            continue
        hit = [model_classes.index(k) for k in keys if k and k in model_classes]
        if hit:
            out.append(hit[0])
        else:
            unmatched.append(d)
    if unmatched:
        raise SystemExit("dataset classes the model lacks (name them in data.class_map): %s" % unmatched)
    return out


# ---------------------------------------------------------------------------------------------
# Pack loading.

def _decode(path, size):
    try:
        import cv2
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR)
        return img[:, :, ::-1]
    except ImportError:
        from PIL import Image
        im = Image.open(path).convert("RGB")
        if im.size[0] != size:
            im = im.resize((size, size), Image.BOX if im.size[0] > size else Image.BILINEAR)
        return np.asarray(im)


def load_split(pack, index, split, size, mapping, limit, device):
    fields = index["splits"][split]
    if limit > 0:
        fields = fields[:limit]
    imgs, boxes, labels, truth, lbs = [], [], [], [], []
    for f in fields:
        imgs.append(_decode(os.path.join(pack, split, f["stem"] + ".jpg"), size))
        w, h = f["width"], f["height"]
        tb, tl = [], []
        for line in open(os.path.join(pack, split, f["stem"] + ".txt")):
            v = line.split()
            if len(v) < 5:
                continue
            c = mapping[int(v[0])]
            if c < 0:
                continue
            cx, cy, bw, bh = (float(x) for x in v[1:5])
            # yolo reader: float((cx - bw/2) * W) in double, then float32
            b = np.array([(cx - 0.5 * bw) * w, (cy - 0.5 * bh) * h, (cx + 0.5 * bw) * w, (cy + 0.5 * bh) * h],
                         dtype=np.float32)
            b = dm.clip_boxes(b[None], w, h)[0]
            if not (b[2] > b[0] and b[3] > b[1]):
                continue
            tb.append(b)
            tl.append(c)
        tb = np.array(tb, dtype=np.float32).reshape(-1, 4)
        lb = dm.Letterbox(w, h, size, size)
        truth.append((tb, np.array(tl, dtype=np.int64)))
        boxes.append(lb.forward(tb))
        labels.append(np.array(tl, dtype=np.int64))
        lbs.append(lb)
    g = max([len(b) for b in boxes] + [1])
    n = len(fields)
    gb = np.zeros((n, g, 4), np.float32)
    gl = np.zeros((n, g), np.int64)
    gv = np.zeros((n, g), bool)
    for i, (b, l) in enumerate(zip(boxes, labels)):
        gb[i, :len(b)] = b
        gl[i, :len(l)] = l
        gv[i, :len(b)] = True
    return {"images": torch.from_numpy(np.stack(imgs)).to(device), "boxes": torch.from_numpy(gb).to(device),
            "labels": torch.from_numpy(gl).to(device), "valid": torch.from_numpy(gv).to(device),
            "truth": truth, "letterboxes": lbs, "stems": [f["stem"] for f in fields]}


# ---------------------------------------------------------------------------------------------
# Augmentation on the device (data/augment.cpp semantics, random numbers from torch).

def _u8(x):
    return x.round().clamp(0, 255)


def _grey(x):  # cv::COLOR_*2GRAY weights, rounded as an 8-bit grey image
    return _u8(0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])


def _hue(x, deg):
    """adjust_hue: hexcone rotation per pixel (x: [B,3,H,W] RGB 0..255, deg [B])."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    mx, mn = x.max(1)[0], x.min(1)[0]
    c = mx - mn
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(mx == r, (g - b) / safe, torch.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    shift = torch.remainder(deg, 360.0) / 60.0
    h = torch.remainder(h + shift.view(-1, 1, 1) + 12.0, 6.0)
    sector = h.floor().clamp(max=5)
    f = h - sector
    up, down = mn + c * f, mn + c * (1 - f)
    sel = [sector == k for k in range(6)]
    rr = torch.where(sel[0] | sel[5], mx, torch.where(sel[1], down, torch.where(sel[4], up, mn)))
    gg = torch.where(sel[1] | sel[2], mx, torch.where(sel[0], up, torch.where(sel[3], down, mn)))
    bb = torch.where(sel[3] | sel[4], mx, torch.where(sel[2], up, torch.where(sel[5], down, mn)))
    out = _u8(torch.stack([rr, gg, bb], 1))
    return torch.where((c > 0).unsqueeze(1), out, x)


def augment_batch(img_u8, boxes, labels, valid, a):
    """img_u8 [B,S,S,3] uint8 RGB, boxes [B,G,4] input pixels, valid [B,G] -> float [B,3,S,S] 0..255,
    boxes, valid (boxes dropped by scale_crop become invalid)."""
    # The C++ pipeline's centred zoom, resolution loss and stain-matrix jitter are not mirrored
    # here: refuse them rather than train on a different recipe.
    if a["scale_shift"] != 1.0 or a["downsample_prob"] > 0 or a["stain_jitter_prob"] > 0:
        raise ValueError("augment.scale_shift != 1, augment.downsample_prob > 0 and augment.stain_jitter_prob > 0 "
                         "are C++-trainer only")
    dev = img_u8.device
    x = img_u8.permute(0, 3, 1, 2).float()
    B, S = x.shape[0], x.shape[2]
    bx = boxes.clone()
    valid = valid.clone()
    rnd = lambda: torch.rand(B, device=dev)  # noqa: E731
    if a["hflip"] > 0:
        m = rnd() < a["hflip"]
        x = torch.where(m.view(B, 1, 1, 1), x.flip(3), x)
        bx = torch.where(m.view(B, 1, 1), torch.stack([S - bx[..., 2], bx[..., 1], S - bx[..., 0], bx[..., 3]], -1), bx)
    if a["vflip"] > 0:
        m = rnd() < a["vflip"]
        x = torch.where(m.view(B, 1, 1, 1), x.flip(2), x)
        bx = torch.where(m.view(B, 1, 1), torch.stack([bx[..., 0], S - bx[..., 3], bx[..., 2], S - bx[..., 1]], -1), bx)
    if a["rot90"] > 0:
        turns = torch.where(rnd() < a["rot90"], torch.randint(1, 4, (B,), device=dev), torch.zeros(B, dtype=torch.long, device=dev))
        for k in (1, 2, 3):
            sel = (turns == k).nonzero().squeeze(1)
            if sel.numel() == 0:
                continue
            x[sel] = torch.rot90(x[sel], k, dims=(2, 3))
            b = bx[sel]
            for _ in range(k):  # counter-clockwise quarter turn: (x, y) -> (y, S - x)
                b = torch.stack([b[..., 1], S - b[..., 2], b[..., 3], S - b[..., 0]], -1)
            bx[sel] = b
    if a["rotate_prob"] > 0 and a["rotate_degrees"] > 0:
        raise SystemExit("augment.rotate_*: arbitrary rotation is not mirrored by this trainer; set rotate_prob 0")
    if a["scale_prob"] > 0:
        sel = (rnd() < a["scale_prob"]).nonzero().squeeze(1)
        if sel.numel():
            n = sel.numel()
            lo, hi = a["scale_min"], a["scale_max"]
            s = lo + (hi - lo) * torch.rand(n, device=dev) if lo < hi else torch.full((n,), lo, device=dev)
            sw = torch.clamp(torch.floor(S * s + 0.5), min=1)
            lo_off, hi_off = torch.clamp(sw - S, max=0), torch.clamp(sw - S, min=0)
            dx = (lo_off + torch.floor(torch.rand(n, device=dev) * (hi_off - lo_off + 1))).clamp(max=hi_off)
            dy = (lo_off + torch.floor(torch.rand(n, device=dev) * (hi_off - lo_off + 1))).clamp(max=hi_off)
            f = sw / S
            u = torch.arange(S, device=dev, dtype=torch.float32)
            sx = u.view(1, -1) + dx.view(-1, 1)                         # scaled-image coordinate [n,S]
            sy = u.view(1, -1) + dy.view(-1, 1)
            gx = ((sx + 0.5) / f.view(-1, 1)) * (2.0 / S) - 1           # grid_sample, align_corners=False
            gy = ((sy + 0.5) / f.view(-1, 1)) * (2.0 / S) - 1
            grid = torch.stack([gx.view(n, 1, S).expand(n, S, S), gy.view(n, S, 1).expand(n, S, S)], -1)
            inside = ((sx >= 0) & (sx < sw.view(-1, 1))).view(n, 1, S) & ((sy >= 0) & (sy < sw.view(-1, 1))).view(n, S, 1)
            xi = x[sel]
            frame = torch.cat([xi[:, :, 0, :], xi[:, :, -1, :], xi[:, :, 1:-1, 0], xi[:, :, 1:-1, -1]], 2).mean(2)
            warped = _u8(F.grid_sample(xi, grid, mode="bilinear", padding_mode="border", align_corners=False))
            x[sel] = torch.where(inside.unsqueeze(1), warped, frame.view(n, 3, 1, 1).round())
            b = bx[sel]
            area = (b[..., 2] - b[..., 0]).clamp_min(0) * (b[..., 3] - b[..., 1]).clamp_min(0)
            b = b * f.view(-1, 1, 1) - torch.stack([dx, dy, dx, dy], -1).view(n, 1, 4)
            c = b.clamp(0, S)
            carea = (c[..., 2] - c[..., 0]).clamp_min(0) * (c[..., 3] - c[..., 1]).clamp_min(0)
            keep = (area > 0) & (carea > 0) & (carea >= 0.4 * area)
            bx[sel] = c
            valid[sel] = valid[sel] & keep
    if a["channel_gain_prob"] > 0 and a["channel_gain"] > 0:
        # A camera's colour cast: each channel its own gain in 1 +- channel_gain (adjust_channel_gain).
        m = (rnd() < a["channel_gain_prob"]).view(B, 1, 1, 1)
        gain = 1 + (torch.rand(B, 3, device=dev) * 2 - 1) * a["channel_gain"]
        x = torch.where(m, _u8(x * gain.view(B, 3, 1, 1)), x)
    if a["brightness"] > 0:
        d = (torch.rand(B, device=dev) * 2 - 1) * a["brightness"]
        x = _u8(x + (d * 255).view(B, 1, 1, 1))
    if a["contrast"] > 0:
        fct = 1 + (torch.rand(B, device=dev) * 2 - 1) * a["contrast"]
        mean = _grey(x).mean((1, 2))
        x = _u8(x * fct.view(B, 1, 1, 1) + (mean * (1 - fct)).view(B, 1, 1, 1))
    if a["saturation"] > 0:
        fct = (1 + (torch.rand(B, device=dev) * 2 - 1) * a["saturation"]).view(B, 1, 1, 1)
        x = _u8(x * fct + _grey(x).unsqueeze(1) * (1 - fct))
    if a["hue_degrees"] > 0:
        x = _hue(x, (torch.rand(B, device=dev) * 2 - 1) * a["hue_degrees"])
    if a["gaussian_prob"] > 0 and a["gaussian_sigma"] > 0:
        m = (rnd() < a["gaussian_prob"]).view(B, 1, 1, 1)
        x = torch.where(m, _u8(x + torch.randn_like(x) * a["gaussian_sigma"] * 255), x)
    if a["poisson_prob"] > 0:
        m = (rnd() < a["poisson_prob"]).view(B, 1, 1, 1)
        pk = a["poisson_peak"]
        x = torch.where(m, _u8(torch.poisson(x / 255 * pk) * 255 / pk), x)
    if a["salt_pepper_prob"] > 0 and a["salt_pepper_amount"] > 0:
        m = (rnd() < a["salt_pepper_prob"]).view(B, 1, 1, 1)
        r = torch.rand(B, 1, S, S, device=dev)
        sp = torch.where(r < a["salt_pepper_amount"] / 2, torch.zeros_like(x),
                         torch.where(r < a["salt_pepper_amount"], torch.full_like(x, 255), x))
        x = torch.where(m, sp, x)
    return x, bx, valid


def autocast(on):
    """bf16 autocast on CUDA; a no-op elsewhere (torch 1.13's CPU build rejects a CUDA autocast)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if on else contextlib.nullcontext()


def normalise(x255, mean, std):
    return (x255 / 255.0 - mean) / std


# ---------------------------------------------------------------------------------------------
# Metrics (mirror of engine/metrics/detection_metrics.cpp).

def _linspace(start, stop, num):
    step = (stop - start) / (num - 1)
    v = [i * step + start for i in range(num)]
    v[-1] = stop
    return v


IOU_T = _linspace(0.5, 0.95, 10)
REC_T = _linspace(0.0, 1.0, 101)


def _iou_matrix(d, g):
    d = d.astype(np.float64)
    g = g.astype(np.float64)
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = w * h
    da = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    ga = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    iou = inter / (da[:, None] + ga[None, :] - inter)
    return np.where((w > 0) & (h > 0), iou, 0.0)


def evaluate(images, classes, max_det=100):
    """images: list of (truth_boxes [G,4], truth_labels [G], dets list of dicts) in original pixels."""
    per_class, means = {}, {k: [] for k in ("AP", "AP50", "AP75", "AP90", "AR100")}
    ti = {t: i for i, t in enumerate(IOU_T)}
    i50, i75, i90 = [min(range(10), key=lambda i: abs(IOU_T[i] - v)) for v in (0.5, 0.75, 0.9)]
    del ti
    for k, name in enumerate(classes):
        scores, matched = [], [[] for _ in IOU_T]
        npig = 0
        for tb, tl, dets in images:
            g = tb[tl == k]
            npig += len(g)
            dk = [d for d in dets if d["class_id"] == k]
            order = sorted(range(len(dk)), key=lambda i: -dk[i]["score"])[:max_det]  # stable
            dk = [dk[i] for i in order]
            if dk and len(g):
                ious = _iou_matrix(np.array([d["box"] for d in dk], np.float32), g)
            for t, thr in enumerate(IOU_T):
                taken = np.zeros(len(g), bool)
                floor = min(thr, 1 - 1e-10)
                for di in range(len(dk)):
                    match = -1
                    if len(g):
                        row = np.where(taken, -1.0, ious[di])
                        mx = row.max()
                        if mx >= floor:  # the best free IoU >= t; on equal IoU the later box wins
                            match = int(np.nonzero(row == mx)[0][-1])
                            taken[match] = True
                    matched[t].append(match >= 0)
            scores.extend(d["score"] for d in dk)
        c = {"num_truth": npig, "num_detections": len(scores)}
        if npig == 0:
            c.update({"AP": -1, "AP50": -1, "AP75": -1, "AP90": -1, "AR100": -1})
            per_class[name] = c
            continue
        order = np.argsort(-np.array(scores, np.float64), kind="stable")
        ss = np.array(scores, np.float64)[order]
        prec = np.zeros((10, 101))
        recall = np.zeros(10)
        best_f1 = []
        for t in range(10):
            m = np.array(matched[t], bool)[order] if len(order) else np.zeros(0, bool)
            tp = np.cumsum(m).astype(np.float64)
            fp = np.cumsum(~m).astype(np.float64)
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            recall[t] = rc[-1] if len(rc) else 0.0
            for i in range(len(pr) - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            idx = np.searchsorted(rc, REC_T, side="left")
            for r, i in enumerate(idx):
                if i >= len(rc):
                    break
                prec[t, r] = pr[i]
            bp = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "score": -1.0}
            found = False
            for i in range(len(ss)):
                if i + 1 < len(ss) and ss[i + 1] == ss[i]:
                    continue
                p_ = tp[i] / (tp[i] + fp[i])
                r_ = tp[i] / npig
                f1 = 2 * p_ * r_ / (p_ + r_) if p_ + r_ > 0 else 0.0
                if not found or f1 > bp["f1"]:
                    found = True
                    bp = {"f1": f1, "precision": p_, "recall": r_, "score": ss[i]}
            best_f1.append(bp)
        c.update({"AP": prec.mean(), "AP50": prec[i50].mean(), "AP75": prec[i75].mean(),
                  "AP90": prec[i90].mean(), "AR100": recall.mean(),
                  "precision50": best_f1[i50]["precision"], "recall50": best_f1[i50]["recall"],
                  "f1_50": best_f1[i50]["f1"], "score50": best_f1[i50]["score"],
                  "precision75": best_f1[i75]["precision"], "recall75": best_f1[i75]["recall"],
                  "f1_75": best_f1[i75]["f1"], "score75": best_f1[i75]["score"]})
        for key in means:
            means[key].append(c[key])
        per_class[name] = c
    out = {k: (float(np.mean(v)) if v else -1.0) for k, v in means.items()}
    out.update({"num_images": len(images), "max_detections": max_det, "classes": list(classes),
                "per_class": per_class})
    return out


# ---------------------------------------------------------------------------------------------

def run_eval(net, val, cfg, mean, std, batch, device, use_amp):
    net.eval()
    m = cfg["model"]
    pairs = []
    with torch.no_grad():
        for s in range(0, val["images"].shape[0], batch):
            x = normalise(val["images"][s:s + batch].permute(0, 3, 1, 2).float(), mean, std)
            if use_amp:
                x = x.contiguous(memory_format=torch.channels_last)
            # float32 like the C++ inference (no autocast): the numbers must be the C++ model's
            cls, box, iou, anchors, per_level, _, (ph, pw) = net(x)
            dets = dm.postprocess(m["postprocess"], net.coder, cls.float(), box.float(),
                                  None if iou is None else iou.float(), anchors, per_level, ph, pw,
                                  val["letterboxes"][s:s + batch])
            for i, d in enumerate(dets):
                tb, tl = val["truth"][s + i]
                pairs.append((tb, tl, d))
    net.train()
    return evaluate(pairs, m["classes"], m["postprocess"]["max_detections"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--input-size", type=int, default=0, help="override model.input_size")
    ap.add_argument("--epochs", default="", help="N or auto (default: the config's optim.epochs)")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=-1)
    ap.add_argument("--time-limit", type=float, required=True, help="seconds from start to finished files")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--eval-every", type=int, default=0, help="also evaluate every K epochs (0: only at the end)")
    ap.add_argument("--save-dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--max-train", type=int, default=0, help="first N training fields (0: config / all)")
    ap.add_argument("--max-val", type=int, default=0, help="first N validation fields (0: config / all)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    cfg = dm.merge_config(json.load(open(a.config)))
    if a.input_size:
        cfg["model"]["input_size"] = a.input_size
    if a.batch:
        cfg["optim"]["batch_size"] = a.batch
    if a.lr:
        cfg["optim"]["lr"] = a.lr
    if a.seed >= 0:
        cfg["seed"] = a.seed
    auto = a.epochs == "auto"
    if a.epochs and not auto:
        cfg["optim"]["epochs"] = int(a.epochs)
    os.makedirs(a.out, exist_ok=True)
    device = torch.device(a.device)
    use_amp = device.type == "cuda"
    if use_amp:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])

    m, o = cfg["model"], cfg["optim"]
    size = m["input_size"]
    index = json.load(open(os.path.join(a.pack, "index.json")))
    mapping = map_classes(index["classes_txt"], m["classes"], cfg["data"]["class_map"])
    train = load_split(a.pack, index, cfg["data"]["train_split"], size, mapping,
                       a.max_train or cfg["data"]["max_train_fields"], device)
    val = load_split(a.pack, index, cfg["data"]["val_split"], size, mapping,
                     a.max_val or cfg["data"]["max_val_fields"], device) if cfg["data"]["val_split"] else None
    n_train = train["images"].shape[0]
    print("data: %d train / %d val fields at %d px (%.1f s)" % (n_train, 0 if val is None else val["images"].shape[0],
                                                              size, time.time() - T0), flush=True)

    net = dm.DetectorNet(m).to(device)
    if use_amp:
        net = net.to(memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    mean = torch.tensor(m["pixel_mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(m["pixel_std"], device=device).view(1, 3, 1, 1)
    bs = o["batch_size"]
    steps_per_epoch = (n_train + bs - 1) // bs
    n_params = sum(p.numel() for p in net.parameters())
    print("model: %.2f M parameters, assigner %s, batch %d, %d steps/epoch" %
          (n_params / 1e6, cfg["assigner"]["kind"], bs, steps_per_epoch), flush=True)

    # Time budget: evaluation + saving must fit after training. Estimate the evaluation from one
    # validation batch (forward + post-processing) and the metric pass, with a margin.
    eval_reserve = 5.0
    if val is not None:
        nb = min(bs, val["images"].shape[0])
        for _ in range(2):  # the first pass pays for cuDNN's algorithm search; time the second
            te = time.time()
            with torch.no_grad():
                x = normalise(val["images"][:nb].permute(0, 3, 1, 2).float(), mean, std)
                if use_amp:
                    x = x.contiguous(memory_format=torch.channels_last)
                cls, box, iou, anchors, per_level, _, (ph, pw) = net.eval()(x)
                dm.postprocess(m["postprocess"], net.coder, cls.float(), box.float(),
                               None if iou is None else iou.float(), anchors, per_level, ph, pw)
        net.train()
        per_img = (time.time() - te) / nb
        eval_reserve = 2.0 * per_img * val["images"].shape[0] + 0.05 * val["images"].shape[0] + 5.0
    deadline = T0 + a.time_limit - eval_reserve - 5.0  # training must stop by then
    print("time: limit %.0f s, evaluation reserve %.0f s, training until t=%.0f s" %
          (a.time_limit, eval_reserve, deadline - T0), flush=True)

    total_epochs = o["epochs"]
    metrics_f = open(os.path.join(a.out, "metrics.jsonl"), "w")
    step, epoch, cut_short, images_seen, train_s = 0, 0, False, 0, 0.0
    epochs_chosen = None
    while epoch < total_epochs:
        t_ep = time.time()
        perm = torch.randperm(n_train, device=device)
        sums = np.zeros(4)
        nsteps = 0
        lr = o["lr"]
        t_third = None
        for s in range(0, n_train, bs):
            if nsteps == 2:
                t_third = time.time()  # steady-state timing starts at the third step
            if time.time() > deadline:
                cut_short = True
                break
            idx = perm[s:s + bs]
            lr = o["lr"] * lr_factor(o["schedule"], step, steps_per_epoch, total_epochs)
            for g in opt.param_groups:
                g["lr"] = lr
            x, gb, gv = augment_batch(train["images"][idx], train["boxes"][idx], train["labels"][idx],
                                      train["valid"][idx], cfg["augment"])
            gl = train["labels"][idx]
            x = normalise(x, mean, std)
            if use_amp:
                x = x.contiguous(memory_format=torch.channels_last)
            # Compact the valid boxes of each image to the front (dropped boxes must not be matched).
            order = torch.sort((~gv).to(torch.int8), dim=1, stable=True)[1]
            gb = gb.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
            gl = gl.gather(1, order)
            gv = gv.gather(1, order)
            with autocast(use_amp):
                cls, box, iou, anchors, per_level, strides, _ = net(x)
            cls, box = cls.float(), box.float()
            iou = None if iou is None else iou.float()
            pred = None
            if cfg["assigner"]["kind"] in ("ota", "paa"):
                with torch.no_grad():
                    pred = net.coder.decode(box.detach(), anchors)
            matched = dm.assign(cfg["assigner"], anchors, per_level, strides, net.anchor_gen.per_location,
                                gb, gl, gv, cls.detach(), pred)
            labels, tboxes = dm.build_targets(matched, gb, gl)
            total, lc, lb, li, npos = dm.detection_loss(m["loss"], cls, box, iou, anchors, labels, tboxes, net.coder)
            opt.zero_grad(set_to_none=True)
            total.backward()
            if o["clip_grad_norm"] > 0:
                torch.nn.utils.clip_grad_norm_(params, o["clip_grad_norm"])
            opt.step()
            step += 1
            nsteps += 1
            images_seen += idx.numel()
            sums += torch.stack([total.detach(), lc.detach(), lb.detach(), li.detach()]).float().cpu().numpy()
            if not math.isfinite(sums[0]):
                raise SystemExit("training diverged at epoch %d step %d; lower optim.lr" % (epoch + 1, step))
        ep_s = time.time() - t_ep
        train_s += ep_s
        if nsteps == 0:
            break
        epoch += 1
        rec = {"epoch": epoch, "step": step,
               "train": {"loss": sums[0] / nsteps, "cls": sums[1] / nsteps, "box": sums[2] / nsteps,
                         "iou": sums[3] / nsteps, "lr": lr, "seconds": ep_s,
                         "images_per_second": nsteps and min(n_train, nsteps * bs) / ep_s},
               "of_epochs": total_epochs, "t": time.time() - T0}
        if cut_short:
            rec["cut_short"] = True
        if auto and epoch == 1:
            est = ep_s
            if t_third is not None and nsteps > 2:  # exclude the warm-up steps (allocator, cuDNN search)
                est = (time.time() - t_third) * nsteps / (nsteps - 2)
            left = deadline - time.time()
            per_eval = eval_reserve if a.eval_every > 0 else 0.0
            extra = int(left // (est + (per_eval / a.eval_every if a.eval_every else 0.0)))
            total_epochs = max(1, 1 + extra)
            epochs_chosen = total_epochs
            rec["epochs_chosen"] = total_epochs
            print("epochs auto: epoch 1 took %.1f s (steady state %.1f s) -> %d epochs in total" %
                  (ep_s, est, total_epochs), flush=True)
        final = cut_short or epoch >= total_epochs
        if val is not None and not final and a.eval_every > 0 and epoch % a.eval_every == 0 \
                and time.time() + eval_reserve < deadline:
            rec["val"] = {k: v for k, v in run_eval(net, val, cfg, mean, std, bs, device, use_amp).items()}
        print("epoch %d/%d loss %.4f (cls %.4f box %.4f iou %.4f) lr %.2e %.1f img/s %.1f s%s" %
              (epoch, total_epochs, rec["train"]["loss"], rec["train"]["cls"], rec["train"]["box"],
               rec["train"]["iou"], lr, rec["train"]["images_per_second"], ep_s,
               (" | val AP %.4f AP50 %.4f AP75 %.4f" % (rec["val"]["AP"], rec["val"]["AP50"], rec["val"]["AP75"]))
               if "val" in rec else ""), flush=True)
        metrics_f.write(json.dumps(rec) + "\n")
        metrics_f.flush()
        if cut_short:
            break

    # Weights first (the evaluation must not be able to lose them), then the final evaluation.
    sd = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    arrays = {k: (v.half() if (a.save_dtype == "float16" and v.is_floating_point()) else v).numpy() for k, v in sd.items()}
    np.savez(os.path.join(a.out, "weights.npz"), **arrays)
    final_val = None
    if val is not None:
        tv = time.time()
        final_val = run_eval(net, val, cfg, mean, std, bs, device, use_amp)
        print("final validation (%d fields, %.1f s): AP %.4f AP50 %.4f AP75 %.4f AP90 %.4f AR100 %.4f" %
              (final_val["num_images"], time.time() - tv, final_val["AP"], final_val["AP50"], final_val["AP75"],
               final_val["AP90"], final_val["AR100"]), flush=True)
        for name, c in final_val["per_class"].items():
            print("  %-9s AP %.4f AP50 %.4f AP75 %.4f AP90 %.4f AR100 %.4f" %
                  (name, c["AP"], c["AP50"], c["AP75"], c["AP90"], c["AR100"]), flush=True)
        metrics_f.write(json.dumps({"epoch": epoch, "step": step, "final": True, "val": final_val}) + "\n")
    metrics_f.close()
    summary = {
        "args": vars(a), "config": cfg, "classes": m["classes"], "input_size": size,
        "pack": os.path.abspath(a.pack), "pack_side": index["side"],
        "epochs_done": epoch, "epochs_planned": total_epochs, "epochs_auto": auto, "epochs_chosen": epochs_chosen,
        "cut_short": cut_short, "steps": step, "train_seconds": train_s, "total_seconds": time.time() - T0,
        "train_images_per_second": images_seen / max(train_s, 1e-9), "train_fields": n_train,
        "val_fields": 0 if val is None else val["images"].shape[0], "parameters": n_params,
        "torch": torch.__version__, "device": (torch.cuda.get_device_name(0) if use_amp else "cpu"),
        "weights_dtype": a.save_dtype, "val": final_val,
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    print("wrote %s (weights.npz, summary.json, metrics.jsonl) at t=%.1f s" % (a.out, time.time() - T0), flush=True)


if __name__ == "__main__":
    main()
