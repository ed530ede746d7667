#!/usr/bin/python3
"""Robust fine-tuning of the shipped CNN cell classifier for other labs' stains, cameras and framing.

Runs on CPU (hours; checkpoints every epoch and resumes with --resume). It is CPU-only as
written: a run on a lent GPU needs the model and the augmented batches moved to the device. The network is tools/gpu/train_cnn_classifier.py's mirror of ms::CnnClassifier, started
from the shipped weights (--init, a C++ model folder), so tools/gpu/import_classifier_weights.py
writes the result back as a C++ model folder and `marrowscope eval-classifier` re-measures it.

Why this recipe. The shipped model saw 5,210 cells of one lab, one stain, one scanner, always framed
the same way (a 360 px crop, the white cell about 90 px across). A lab's crops differ in three ways
at once, and each alone sends its cells to the wrong class:
  framing and magnification: another lab's single-cell crops are often tight (the cell fills the
    frame) or taken at another magnification -> random zoom from the usual framing down to a window
    a third of the side (the cell then fills most of it), with context cut off or padded;
  colour: stain hue and strength, white balance of the camera (a yellow background), gamma ->
    white-balance gains, optical-density (stain strength) jitter per channel, hue rotation,
    saturation, contrast, brightness, gamma, some grey images;
  optics: blur, sensor noise.
And it uses the unlabelled white cells of the non-PBC fields of ../shared/data/txl-pbc (BCCD, BCDD,
Raabin-WBC; train split only) through FixMatch-style consistency (Sohn et al., NeurIPS 2020): a
weakly augmented view that the model calls with confidence >= --tau becomes the target of a strongly
augmented view of the same cell. Dihedral views throughout make one forward pass orientation-free.

Validation cells of pbc (models/classifier/split/val.txt) are scored with the product's framing
every epoch; ../shared/data/ood-tecom is scored for the record only (it is GPL-3.0 and evaluation
only: it never enters a loss, and the shipped epoch is the last one, chosen before the run).

    /usr/bin/python3 tools/gpu/train_robust_classifier.py --init models/classifier --out RUN \
        --epochs 10 --threads 2
"""
import argparse
import csv
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_cnn_classifier import CnnClassifier, ema_update  # noqa: E402

# ood-tecom labels 1..5 -> groups of the PBC classes (its neutrophil label covers band and segmented).
OOD_GROUPS = [["band_neutrophil", "segmented_neutrophil"], ["lymphocyte"], ["monocyte"], ["eosinophil"],
              ["basophil"]]
STORE = 292  # cells are kept at twice the shipped cache side (146): zoomed-in views stay sharp


def load_square(path, side, box=None, margin=3.0):
    """RGB uint8 [side, side, 3]: the whole image, or a square window of margin x the box's longer
    side around box (x0, y0, x1, y1) with the image's edge replicated where the window leaves it."""
    im = Image.open(path).convert("RGB")
    if box is not None:
        x0, y0, x1, y1 = box
        s = max(x1 - x0, y1 - y0) * margin
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a = np.asarray(im)
        l, t = int(round(cx - s / 2)), int(round(cy - s / 2))
        n = int(round(s))
        ys = np.clip(np.arange(t, t + n), 0, a.shape[0] - 1)
        xs = np.clip(np.arange(l, l + n), 0, a.shape[1] - 1)
        im = Image.fromarray(a[ys][:, xs])
    im = im.resize((side, side), Image.BOX if min(im.size) > side else Image.BILINEAR)
    return np.asarray(im)


def load_pbc(data, listfile, classes):
    rows = [l.rstrip("\n").split("\t") for l in open(listfile) if l.strip()]
    x = np.stack([load_square(os.path.join(data, p), STORE) for _, p in rows])
    y = np.array([classes.index(c) for c, _ in rows], dtype=np.int64)
    return x, y


def load_unlabelled(txl, sources, limit=0):
    """White-cell (class 0) boxes of the train-split fields of the given sources."""
    out = []
    for r in csv.DictReader(open(os.path.join(txl, "source_map.csv"))):
        if r["split"] != "train" or r["source"] not in sources:
            continue
        img = os.path.join(txl, "images", "train", r["new_name"])
        lab = os.path.join(txl, "labels", "train", os.path.splitext(r["new_name"])[0] + ".txt")
        if not os.path.exists(lab):
            continue
        w, h = Image.open(img).size
        for line in open(lab):
            p = line.split()
            if len(p) < 5 or p[0] != "0":
                continue
            cx, cy, bw, bh = (float(v) for v in p[1:5])
            out.append(load_square(img, STORE, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w,
                                                (cy + bh / 2) * h)))
            if limit and len(out) >= limit:
                return np.stack(out)
    return np.stack(out)


def load_ood(root):
    lab = {int(l.split(",")[0]): int(l.split(",")[1]) for l in open(os.path.join(root, "labels.csv")).readlines()[1:]
           if l.strip()}
    files = sorted(glob.glob(os.path.join(root, "images", "*.png")))
    x = [np.asarray(Image.open(f).convert("RGB").resize((146, 146), Image.BILINEAR)) for f in files]
    y = np.array([lab[int(os.path.basename(f).split("_")[0])] - 1 for f in files], dtype=np.int64)
    return np.stack(x), y


def u(b, lo, hi, g, shape=(1, 1, 1)):
    return lo + (hi - lo) * torch.rand((b,) + shape, generator=g)


def geometric(x, g, out, zoom_min, zoom_max, plain_prob, shift):
    """x: [B,3,STORE,STORE] in [0,1] -> [B,3,out,out]: a dihedral view, a rotation, and a window
    whose side is a fraction f of the cell image's (log-uniform in [zoom_min, zoom_max]; with
    probability plain_prob the product's framing, f about out/146), shifted by up to `shift` of
    the window. Windows larger than the image are padded by reflection."""
    b = x.shape[0]
    base = out / 146.0  # the product's centre crop of the 146 px cache
    logf = math.log(zoom_min) + (math.log(zoom_max) - math.log(zoom_min)) * torch.rand(b, generator=g)
    f = torch.where(torch.rand(b, generator=g) < plain_prob, base * u(b, 0.95, 1.05, g, ()), torch.exp(logf))
    ang = torch.randint(0, 4, (b,), generator=g).float() * (math.pi / 2) + u(b, -math.pi, math.pi, g, ()) * 0.25
    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    sh = (torch.rand(b, 2, generator=g) * 2 - 1) * shift * f.unsqueeze(1)
    cos, sin = torch.cos(ang) * f, torch.sin(ang) * f
    theta = torch.stack([torch.stack([cos * flip, -sin, sh[:, 0]], 1), torch.stack([sin * flip, cos, sh[:, 1]], 1)], 1)
    # Sample from the half-size image where the window is large (avoids aliasing on the 2x store).
    small = F.avg_pool2d(x, 2)
    grid = F.affine_grid(theta, (b, 3, out, out), align_corners=False)
    use_small = (f * 146 >= out * 0.999).view(b, 1, 1, 1)
    ys = F.grid_sample(small, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    yl = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return torch.where(use_small, ys, yl)


def yiq_hue(x, deg):
    """Rotates hue by deg (per image, [B]) in YIQ space."""
    th = deg * math.pi / 180
    c, s = torch.cos(th), torch.sin(th)
    to = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    back = torch.linalg.inv(to)
    yiq = torch.einsum("ij,bjhw->bihw", to, x)
    i2 = c.view(-1, 1, 1) * yiq[:, 1] - s.view(-1, 1, 1) * yiq[:, 2]
    q2 = s.view(-1, 1, 1) * yiq[:, 1] + c.view(-1, 1, 1) * yiq[:, 2]
    return torch.einsum("ij,bjhw->bihw", back, torch.stack([yiq[:, 0], i2, q2], 1))


def photometric(y, g, a):
    """Strong colour and optics augmentation of [B,3,H,W] in [0,1]."""
    b = y.shape[0]
    eps = 1.0 / 255
    # Stain strength per channel in optical density, then camera white balance.
    od = -torch.log(y.clamp(min=eps))
    od = od * u(b, 1 - a.od_scale, 1 + a.od_scale, g, (3, 1, 1)) + u(b, -a.od_bias, a.od_bias, g, (3, 1, 1))
    y = torch.exp(-od.clamp(min=0))
    y = y * torch.exp(u(b, -a.wb, a.wb, g, (3, 1, 1)))
    y = yiq_hue(y.clamp(0, 1), (torch.rand(b, generator=g) * 2 - 1) * a.hue)
    grey = (0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3])
    y = (y - grey) * u(b, 1 - a.saturation, 1 + a.saturation, g) + grey
    y = torch.where(torch.rand(b, 1, 1, 1, generator=g) < a.grey, grey.expand_as(y), y)
    m = y.mean((1, 2, 3), keepdim=True)
    y = (y - m) * u(b, 1 - a.contrast, 1 + a.contrast, g) + m
    y = (y * u(b, 1 - a.brightness, 1 + a.brightness, g)).clamp(0, 1)
    y = y.pow(torch.exp(u(b, -a.gamma, a.gamma, g)))
    # Blur on a random subset (one sigma per batch keeps it a single convolution).
    if a.blur > 0:
        sigma = 0.3 + float(torch.rand(1, generator=g)) * a.blur
        k = torch.arange(-3, 4, dtype=torch.float32)
        k = torch.exp(-k * k / (2 * sigma * sigma))
        k = k / k.sum()
        bl = F.conv2d(F.pad(y, (3, 3, 0, 0), mode="reflect"), k.view(1, 1, 1, 7).repeat(3, 1, 1, 1), groups=3)
        bl = F.conv2d(F.pad(bl, (0, 0, 3, 3), mode="reflect"), k.view(1, 1, 7, 1).repeat(3, 1, 1, 1), groups=3)
        y = torch.where(torch.rand(b, 1, 1, 1, generator=g) < 0.3, bl, y)
    noise = torch.randn(y.shape, generator=g) * u(b, 0, a.noise, g)
    y = y + torch.where(torch.rand(b, 1, 1, 1, generator=g) < 0.3, noise, torch.zeros_like(noise))
    return y.clamp(0, 1)


def stain_measure(x):
    """[B,3,H,W] in [0,1] -> (background [B,3], optical density relative to it [B,3,H*W], its
    od quantile per channel [B,3,1]): near-black pixels (a scanner's padding) take the background
    colour; the background is the mean colour of the non-black pixels at or above the brightness
    quantile."""
    b = x.shape[0]
    flat = x.reshape(b, 3, -1)
    s = flat.sum(1)
    black = s < STAIN_BLACK
    s_nb = torch.where(black, torch.full_like(s, -1.0), s)
    t = upper_quantile(s_nb, STAIN_BG_Q)
    w = ((s_nb >= t) & ~black).float()
    bg = (flat * w[:, None]).sum(2) / w.sum(1, keepdim=True).clamp(min=1)
    bg = torch.where(w.sum(1, keepdim=True) > 0, bg, torch.ones_like(bg)).clamp(min=STAIN_MIN_BG)
    flat = torch.where(black[:, None], bg[:, :, None], flat)
    od = (-torch.log(flat.clamp(min=1.0 / 255) / bg[:, :, None])).clamp(min=0)
    return bg, od, upper_quantile(od, STAIN_OD_Q)


def stain_standardise(x, bg_ref, od_ref):
    """The classifier's stain standardisation of [B,3,H,W] in [0,1] (engine/train/stain_standardise.h
    is the C++ twin; tests/golden/stain/standardise.json holds them equal): each channel's optical
    density relative to the image's own background is scaled so that its 99th percentile (the
    darkest stain: the nucleus) equals the training lab's, and the image is rebuilt on the training
    lab's background. It removes the camera's white balance and the stain's strength and hue per
    channel, which augmentation alone did not teach the network."""
    _, od, p = stain_measure(x)
    out = bg_ref.view(1, 3, 1) * torch.exp(-od * od_ref.view(1, 3, 1) / p.clamp(min=STAIN_MIN_OD))
    return out.reshape(x.shape).clamp(0, 1)


def upper_quantile(x, q):
    """torch.quantile(x, q, dim=-1, keepdim=True) (linear interpolation) for q near 1, through
    topk: 20x faster than the full sort on one CPU thread."""
    n = x.shape[-1]
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    v = torch.topk(x, n - lo, dim=-1, sorted=True).values
    a = v[..., -1:]
    b = v[..., -2:-1] if n - lo > 1 else a
    return a + (b - a) * (pos - lo)


STAIN_BLACK, STAIN_BG_Q, STAIN_OD_Q, STAIN_MIN_BG, STAIN_MIN_OD = 40.0 / 255, 0.85, 0.99, 0.05, 0.05


def stain_reference(x_u8, out):
    """The training lab's background colour and per-channel 99th-percentile optical density: the
    medians (torch's lower median) of stain_measure over its cells' centre crops, as the network
    sees them."""
    bgs, ods = [], []
    for i in range(0, len(x_u8), 256):
        xb = torch.from_numpy(x_u8[i:i + 256]).permute(0, 3, 1, 2).float() / 255
        if xb.shape[-1] != 146:
            xb = F.avg_pool2d(xb, 2) if xb.shape[-1] == 292 else F.interpolate(xb, size=(146, 146), mode="bilinear")
        bg, _, p = stain_measure(centre(xb, out))
        bgs.append(bg)
        ods.append(p[..., 0])
    return torch.cat(bgs).median(0).values, torch.cat(ods).median(0).values.clamp(min=STAIN_MIN_OD)


def centre(x, out):
    o = (x.shape[-1] - out) // 2
    return x[..., o:o + out, o:o + out]


def dihedral(x, k, hw):
    """View k (0-7) of the dihedral group: k % 4 quarter turns, then a flip of the width axis for
    k >= 4. All eight are the C++ predictor's eight views in another order (models/classifier/
    test_time_views.h), so only 1 and 8 views average the same here. x is a torch tensor or a numpy
    array; hw names its (height, width) axes."""
    if torch.is_tensor(x):
        v = torch.rot90(x, k % 4, hw)
        return v.flip(hw[1]) if k >= 4 else v
    v = np.rot90(x, k % 4, axes=hw)
    return np.flip(v, hw[1]) if k >= 4 else v


def predict(model, x_u8, out, mean, std, views=1, bs=256, stain=None):
    """Probabilities [N,C] of uint8 [N,H,W,3] cells resized to 146 then centre-cropped, as the C++
    predictor; views 1 or 8 (dihedral average)."""
    model.eval()
    ps = []
    with torch.no_grad():
        for i in range(0, len(x_u8), bs):
            xb = torch.from_numpy(x_u8[i:i + bs]).permute(0, 3, 1, 2).float() / 255
            if xb.shape[-1] != 146:
                xb = F.avg_pool2d(xb, 2) if xb.shape[-1] == 292 else F.interpolate(xb, size=(146, 146), mode="bilinear")
            xb = centre(xb, out)
            if stain is not None:
                xb = stain_standardise(xb, *stain)
            xb = (xb - mean) / std
            acc = 0
            for k in range(views):
                acc = acc + F.softmax(model(dihedral(xb, k, (2, 3))), 1)
            ps.append(acc / views)
    return torch.cat(ps)


def orientation_consistency(model, x_u8, out, mean, std, stain=None):
    """Share of cells whose one-view answer is the same class in all eight dihedral orientations."""
    tops = []
    for k in range(8):
        xk = np.ascontiguousarray(dihedral(x_u8, k, (1, 2)))
        tops.append(predict(model, xk, out, mean, std, stain=stain).argmax(1))
    t = torch.stack(tops)
    return (t == t[0]).all(0).float().mean().item()


def ood_scores(p, y, classes):
    idx = [[classes.index(c) for c in grp] for grp in OOD_GROUPS]
    grouped = torch.stack([p[:, i].sum(1) for i in idx], 1)
    top = p.argmax(1)
    raw = torch.tensor([next((k for k, i in enumerate(idx) if int(t) in i), -1) for t in top])
    yt = torch.from_numpy(y)
    return {"ood_acc5": (raw == yt).float().mean().item(), "ood_acc5_restricted": (grouped.argmax(1) == yt).float().mean().item()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", default="models/classifier", help="C++ model folder to start from")
    ap.add_argument("--data", default="../shared/data/pbc")
    ap.add_argument("--split", default="models/classifier/split")
    ap.add_argument("--txl", default="../shared/data/txl-pbc")
    ap.add_argument("--sources", default="BCCD,BCDD,Raabin-WBC", help="txl-pbc sources of unlabelled cells ('' = none)")
    ap.add_argument("--ood", default="../shared/data/ood-tecom", help="scored for the record only ('' = skip)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ubatch", type=int, default=32, help="unlabelled cells per step")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.3, help="epochs of linear warm-up")
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--tau", type=float, default=0.9, help="FixMatch confidence threshold")
    ap.add_argument("--lambda-u", type=float, default=1.0)
    ap.add_argument("--distill", type=float, default=0.0,
                    help="weight of distillation from the --init model: its answer on the plain view of each "
                         "labelled cell is a soft target for the augmented view (keeps the training lab's accuracy)")
    ap.add_argument("--teacher-views", type=int, default=0, choices=[0, 1, 2, 4, 8],
                    help="0: the teacher answers each step's plain view; N > 0: its answer averaged over the "
                         "first N dihedral views of the product's framing, computed once per cell, is the target "
                         "of every view the student sees (self-distillation into one orientation-free pass)")
    ap.add_argument("--zoom-min", type=float, default=0.33, help="smallest window, as a fraction of the cell image")
    ap.add_argument("--zoom-max", type=float, default=1.15)
    ap.add_argument("--plain", type=float, default=0.35, help="share of labelled views in the product's framing")
    ap.add_argument("--shift", type=float, default=0.08)
    ap.add_argument("--od-scale", type=float, default=0.35)
    ap.add_argument("--od-bias", type=float, default=0.08)
    ap.add_argument("--wb", type=float, default=0.25, help="log white-balance gain range per channel")
    ap.add_argument("--hue", type=float, default=35.0, help="degrees")
    ap.add_argument("--saturation", type=float, default=0.5)
    ap.add_argument("--contrast", type=float, default=0.3)
    ap.add_argument("--brightness", type=float, default=0.2)
    ap.add_argument("--gamma", type=float, default=0.35, help="log gamma range")
    ap.add_argument("--grey", type=float, default=0.1)
    ap.add_argument("--blur", type=float, default=1.0)
    ap.add_argument("--noise", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N cells only (smoke tests)")
    ap.add_argument("--max-steps", type=int, default=0, help="steps per epoch cap (smoke tests)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stain-standardise", action="store_true",
                    help="standardise every view's stain (stain_standardise) before the network")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    os.makedirs(a.out, exist_ok=True)
    info = json.load(open(os.path.join(a.init, "model.json")))
    classes = info["classes"]
    inp = info["model"]["input_size"]
    mean = torch.tensor(info["normalization"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(info["normalization"]["std"]).view(1, 3, 1, 1)
    width = info["model"]["cnn"]["backbone"]["width"]

    t0 = time.time()
    xtr, ytr = load_pbc(a.data, os.path.join(a.split, "train.txt"), classes)
    xva, yva = load_pbc(a.data, os.path.join(a.split, "val.txt"), classes)
    if a.limit:
        keep = np.random.default_rng(0).permutation(len(xtr))[:a.limit]
        xtr, ytr, xva, yva = xtr[keep], ytr[keep], xva[:a.limit // 4], yva[:a.limit // 4]
    sources = [s for s in a.sources.split(",") if s]
    xun = load_unlabelled(a.txl, sources, a.limit) if sources else np.zeros((0, STORE, STORE, 3), np.uint8)
    xood, yood = load_ood(a.ood) if a.ood else (None, None)
    print("loaded %d train / %d val / %d unlabelled cells in %.0f s" % (len(xtr), len(xva), len(xun), time.time() - t0),
          flush=True)

    stain = stain_reference(xtr, inp) if a.stain_standardise else None
    if stain is not None:
        print("stain reference: background %s, 99th-percentile OD %s" % (stain[0].tolist(), stain[1].tolist()),
              flush=True)
    std_in = (lambda v: stain_standardise(v, *stain)) if stain is not None else (lambda v: v)
    model = CnnClassifier(width, len(classes), a.dropout)
    init = torch.jit.load(os.path.join(a.init, "model.pt"), map_location="cpu")
    model.load_state_dict({k: v for k, v in list(init.named_parameters()) + list(init.named_buffers())})
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    teacher = None
    if a.distill > 0:
        teacher = CnnClassifier(width, len(classes), 0.0)
        teacher.load_state_dict(model.state_dict())
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    fixed_targets = None
    if teacher is not None and a.teacher_views > 0:
        # The N-view average is the same for every dihedral transform of a cell, so one target per cell
        # serves whatever orientation the student is shown; computed once and kept for --resume.
        tpath = os.path.join(a.out, "teacher_targets_v%d.pt" % a.teacher_views)
        if os.path.exists(tpath):
            fixed_targets = torch.load(tpath)
        else:
            t1 = time.time()
            fixed_targets = predict(teacher, xtr, inp, mean, std, views=a.teacher_views, stain=stain)
            torch.save(fixed_targets, tpath + ".tmp")
            os.replace(tpath + ".tmp", tpath)
            print("teacher targets (%d views) for %d cells in %.0f s" % (a.teacher_views, len(xtr), time.time() - t1),
                  flush=True)
        if len(fixed_targets) != len(xtr):
            raise SystemExit("%s holds %d targets for %d training cells" % (tpath, len(fixed_targets), len(xtr)))
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    steps = len(xtr) // a.batch
    if a.max_steps:
        steps = min(steps, a.max_steps)
    total, warm = steps * a.epochs, int(steps * a.warmup)

    def lr_at(step):
        if step < warm:
            return a.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))

    g = torch.Generator()
    g.manual_seed(a.seed)
    start, step = 1, 0
    ckpt = os.path.join(a.out, "checkpoint.pt")
    if a.resume and os.path.exists(ckpt):
        c = torch.load(ckpt)
        model.load_state_dict(c["model"])
        ema = c["ema"]
        opt.load_state_dict(c["opt"])
        g.set_state(c["rng"])
        start, step = c["epoch"] + 1, c["step"]
        print("resumed after epoch %d" % c["epoch"], flush=True)
    log = open(os.path.join(a.out, "metrics.jsonl"), "a")
    train_seconds = 0.0
    if os.path.exists(os.path.join(a.out, "summary.json")) and start > 1:
        train_seconds = json.load(open(os.path.join(a.out, "summary.json"))).get("train_seconds", 0.0)
    xtr_t = torch.from_numpy(xtr).permute(0, 3, 1, 2)
    xun_t = torch.from_numpy(xun).permute(0, 3, 1, 2)
    ytr_t = torch.from_numpy(ytr)
    for epoch in range(start, a.epochs + 1):
        model.train()
        te = time.time()
        perm = torch.randperm(len(xtr), generator=g)
        sums = {"loss": 0.0, "loss_u": 0.0, "mask": 0.0, "correct": 0}
        for i in range(steps):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            xraw = xtr_t[idx].float() / 255
            xl = photometric(geometric(xraw, g, inp, a.zoom_min, a.zoom_max, a.plain, a.shift), g, a)
            if fixed_targets is not None:
                pt = fixed_targets[idx]
            elif teacher is not None:
                with torch.no_grad():
                    pt = F.softmax(teacher((geometric(xraw, g, inp, 1.0, 1.0, 1.0, 0.0) - mean) / std), 1)
            parts = [(std_in(xl) - mean) / std]
            nu = 0
            if len(xun) and a.lambda_u > 0:
                uidx = torch.randint(0, len(xun), (a.ubatch,), generator=g)
                xu = xun_t[uidx].float() / 255
                # Weak view: geometry only; strong view: another geometry plus the colour jitter.
                weak = geometric(xu, g, inp, 0.4, 1.0, 0.0, a.shift)
                strong = photometric(geometric(xu, g, inp, 0.4, 1.0, 0.0, a.shift), g, a)
                with torch.no_grad():
                    pw = F.softmax(model((std_in(weak) - mean) / std), 1)
                model.train()
                parts.append((std_in(strong) - mean) / std)
                nu = a.ubatch
            for gr in opt.param_groups:
                gr["lr"] = lr_at(step)
            logits = model(torch.cat(parts))
            ll = logits[:len(idx)]
            loss = F.cross_entropy(ll, ytr_t[idx], label_smoothing=a.smoothing)
            if teacher is not None:
                loss = loss + a.distill * F.kl_div(F.log_softmax(ll, 1), pt, reduction="batchmean")
            if nu:
                conf, pl = pw.max(1)
                mask = (conf >= a.tau).float()
                lu = (F.cross_entropy(logits[len(idx):], pl, reduction="none") * mask).mean()
                ramp = min(1.0, (step + 1) / max(1, steps))  # consistency weight ramps up over the first epoch
                loss = loss + a.lambda_u * ramp * lu
                sums["loss_u"] += lu.item()
                sums["mask"] += mask.mean().item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            ema_update(ema, model, step, a.ema)
            sums["loss"] += loss.item()
            sums["correct"] += int((ll.argmax(1) == ytr_t[idx]).sum())
            if (i + 1) % 10 == 0:
                print("epoch %d step %d/%d loss %.3f mask %.2f %.1f img/s" % (
                    epoch, i + 1, steps, sums["loss"] / (i + 1), sums["mask"] / (i + 1),
                    (i + 1) * (a.batch + 2 * nu) / (time.time() - te)), flush=True)
        rec = {"epoch": epoch, "lr": lr_at(step - 1), "loss": sums["loss"] / steps, "loss_u": sums["loss_u"] / steps,
               "mask": sums["mask"] / steps, "train_accuracy": sums["correct"] / (steps * a.batch),
               "seconds": time.time() - te}
        live = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(ema)
        pv = predict(model, xva, inp, mean, std, stain=stain)
        rec["val_accuracy_ema"] = (pv.argmax(1) == torch.from_numpy(yva)).float().mean().item()
        if a.teacher_views > 0:
            rec["val_same_class_8_orientations_ema"] = orientation_consistency(model, xva, inp, mean, std, stain)
        if xood is not None:
            rec.update({k + "_ema": v for k, v in ood_scores(predict(model, xood, inp, mean, std, stain=stain), yood, classes).items()})
        model.load_state_dict(live)
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        train_seconds += rec["seconds"]
        save(a, ema, classes, inp, mean, std, epoch, rec, info, stain, len(xtr), len(xva), train_seconds)
        torch.save({"model": model.state_dict(), "ema": ema, "opt": opt.state_dict(), "rng": g.get_state(),
                    "epoch": epoch, "step": step}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)


def save(a, ema, classes, inp, mean, std, epoch, rec, info, stain, train_cells, val_cells, train_seconds):
    """weights.npz + summary.json in tools/gpu/import_classifier_weights.py's format (EMA weights)."""
    sd = {k: v.detach().float().numpy() if v.dtype.is_floating_point else v.numpy() for k, v in ema.items()}
    np.savez(os.path.join(a.out, "weights.tmp.npz"), **sd)
    os.replace(os.path.join(a.out, "weights.tmp.npz"), os.path.join(a.out, "weights.npz"))
    summary = {"classes": classes, "input_size": inp, "crop_fraction": info["crop_fraction"], "pack_side": 146,
               "epoch": epoch, "normalization": {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()},
               "weights": "ema", "val_accuracy": rec["val_accuracy_ema"], "last": rec,
               "args": dict(vars(a), width=info["model"]["cnn"]["backbone"]["width"],
                                                 dropout=info["model"]["cnn"]["dropout"]),
               "device": "cpu", "torch": torch.__version__, "init": info.get("version", ""),
               "trainer": "train_robust_classifier.py", "train_cells": int(train_cells), "val_cells": int(val_cells),
               "train_seconds": train_seconds}
    if stain is not None:
        summary["stain_standardisation"] = {"background": stain[0].tolist(), "od_p99": stain[1].tolist(),
                                            "black_sum": STAIN_BLACK, "background_quantile": STAIN_BG_Q,
                                            "od_quantile": STAIN_OD_Q, "min_background": STAIN_MIN_BG,
                                            "min_od": STAIN_MIN_OD}
    with open(os.path.join(a.out, "summary.tmp.json"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(a.out, "summary.tmp.json"), os.path.join(a.out, "summary.json"))


if __name__ == "__main__":
    main()
