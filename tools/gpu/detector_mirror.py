"""PyTorch mirror of the C++ RetinaNet family (src/models/**), shared by tools/gpu/train_detector.py,
tools/gpu/import_detector_weights.py and tools/gpu/check_detector_mirror.py.

Everything here follows the C++ code line by line, with the same parameter and buffer names, so a
state dict of DetectorNet copies into the C++ model.pt without renaming:
  ResNet           src/models/backbone/resnet.cpp   (backbone.stem.N, backbone.layerK.B.branch.N, .shortcut.N)
  Fpn              src/models/neck/fpn.cpp          (neck.lateral/output/extra/down/attention/smooth)
  RetinaHead       src/models/head/retina_head.cpp  (head.cls_tower/box_tower/cls_out/box_out/iou_out)
  anchors          src/models/detector/anchor_generator.cpp (torchvision 0.14 semantics, float32)
  BoxCoder         src/models/detector/box_coder.cpp
  assigners        src/models/assign/{max_iou,atss,ota,paa}_assigner.cpp, sinkhorn.cpp,
                   gaussian_mixture.cpp (batched over
                   the images of a batch where the C++ loops per image; same results)
  detection_loss   src/models/loss/*.cpp
  postprocess      src/models/detector/postprocess.cpp + ops/nms.cpp
  letterbox        src/core/box.cpp make_letterbox / forward / inverse
  config defaults  the C++ option structs (RetinaNetOptions, AssignerOptions, DetectorOptimOptions,
                   AugmentOptions, LrScheduleOptions); unknown keys are errors naming the JSON path.
Runs under torch 1.13 (Debian, CPU) and torch 2.x (CUDA).
"""
import copy
import itertools
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ASSIGN_BACKGROUND = -1
ASSIGN_IGNORE = -2

# ---------------------------------------------------------------------------------------------
# Config: defaults of the C++ option structs, merged with a config JSON (unknown keys are errors).

DEFAULT_CONFIG = {
    "model": {
        "classes": ["WBC"], "input_size": 512,
        "pixel_mean": [0.485, 0.456, 0.406], "pixel_std": [0.229, 0.224, 0.225],
        "backbone": {"depth": 18, "width": 1.0, "norm": "batch", "frozen_stages": 0,
                     "zero_init_residual": True, "in_channels": 3},
        "neck": {"channels": 256, "min_level": 3, "max_level": 7, "path_aggregation": False,
                 "se_reduction": 16},
        "head": {"num_convs": 4, "norm": "none", "prior_prob": 0.01, "iou_branch": False},
        "anchors": {"sizes": [], "scales": [1.0, 1.2599210498948732, 1.5874010519681994],
                    "ratios": [0.5, 1.0, 2.0], "offset": 0.0, "round_base": True},
        "box_coder": {"wx": 1.0, "wy": 1.0, "ww": 1.0, "wh": 1.0, "clamp": 4.135166556742356},
        "postprocess": {"score_threshold": 0.05, "topk_per_level": 1000, "nms_threshold": 0.5,
                        "max_detections": 100, "iou_power": 0.5},
        "loss": {"focal_alpha": 0.25, "focal_gamma": 2.0, "box_loss": "giou",
                 "smooth_l1_beta": 1.0 / 9.0, "box_weight": 1.0, "iou_weight": 1.0},
    },
    "assigner": {
        "kind": "max_iou",
        "max_iou": {"pos_iou": 0.5, "neg_iou": 0.4, "low_quality_matches": True, "min_low_quality_iou": 0.0},
        "atss": {"top_k": 9},
        "ota": {"reg_weight": 3.0, "focal_alpha": 0.25, "focal_gamma": 2.0, "top_q": 20,
                "center_radius": 2.5, "outside_cost": 1e5, "sinkhorn_epsilon": 0.1,
                "sinkhorn_iterations": 50},
        "paa": {"candidate_iou": 0.1, "top_k": 9, "reg_weight": 1.0, "focal_alpha": 0.25, "focal_gamma": 2.0,
                "em_iterations": 100, "em_tolerance": 1e-3, "em_reg_covar": 1e-6},
    },
    "data": {"format": "yolo", "train_split": "train", "val_split": "val", "class_map": "",
             "max_train_fields": 0, "max_val_fields": 0},
    "optim": {"epochs": 24, "batch_size": 8, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
              "clip_grad_norm": 10.0,
              "schedule": {"decay": "cosine", "warmup_epochs": 1.0, "step_epochs": [], "gamma": 0.1,
                           "min_lr_ratio": 0.01}},
    "augment": {"hflip": 0.5, "vflip": 0.5, "rot90": 0.5, "rotate_prob": 0.0, "rotate_degrees": 0.0,
                "scale_prob": 0.0, "scale_min": 1.0, "scale_max": 1.0, "scale_shift": 1.0,
                "downsample_prob": 0.0, "downsample_min": 1.0, "stain_jitter_prob": 0.0, "stain_jitter": 0.0,
                "channel_gain_prob": 0.0,
                "channel_gain": 0.0, "brightness": 0.0,
                "contrast": 0.0, "saturation": 0.0, "hue_degrees": 0.0, "gaussian_prob": 0.0,
                "gaussian_sigma": 0.0, "salt_pepper_prob": 0.0, "salt_pepper_amount": 0.0,
                "poisson_prob": 0.0, "poisson_peak": 0.0},
    "seed": 1, "best_metric": "AP", "best_metric_class": "", "keep_checkpoints": 3, "log_every": 10,
}
# Keys whose value is a free-form list (merged as a whole).
_LEAF_LISTS = {"classes", "pixel_mean", "pixel_std", "sizes", "scales", "ratios", "step_epochs"}


def merge_config(user, base=None, path=""):
    """Defaults overlaid with `user` (a parsed config JSON); an unknown key raises ValueError."""
    out = copy.deepcopy(DEFAULT_CONFIG if base is None else base)
    for k, v in user.items():
        where = (path + "." + k) if path else k
        if k not in out:
            raise ValueError("config %s: unknown key" % where)
        if isinstance(out[k], dict):
            if not isinstance(v, dict):
                raise ValueError("config %s: expected an object" % where)
            out[k] = merge_config(v, out[k], where)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# Model (names = the C++ module names).

def _lround(x):  # std::lround for positive values (half away from zero)
    return int(math.floor(x + 0.5))


def _scaled(c, width):
    return max(8, _lround(c * float(np.float32(width))))


def _bconv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


class ResidualBlock(nn.Module):
    def __init__(self, branch, shortcut):
        super().__init__()
        self.branch = branch
        if shortcut is not None:
            self.shortcut = shortcut
        else:
            self.shortcut = None

    def forward(self, x):
        idt = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(self.branch(x) + idt)


class ResNet(nn.Module):
    def __init__(self, o):
        super().__init__()
        depth, width = o["depth"], o["width"]
        if depth not in (18, 34, 50):
            raise ValueError("resnet.depth: expected 18, 34 or 50, found %s" % depth)
        bottleneck = depth == 50
        expansion = 4 if bottleneck else 1
        blocks = [2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3]
        self.frozen_norm = o["norm"] == "frozen"
        norms = []  # (bn, closes a residual branch)

        def norm(c, last=False):
            bn = nn.BatchNorm2d(c)
            norms.append((bn, last))
            return bn

        stem_c = _scaled(64, width)
        self.stem = nn.Sequential(_bconv(o["in_channels"], stem_c, 7, 2), norm(stem_c), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        in_c = stem_c
        self.out_channels = []
        for s in range(4):
            mid = _scaled(64 << s, width)
            out_c = mid * expansion
            layer = []
            for b in range(blocks[s]):
                stride = 2 if (b == 0 and s > 0) else 1
                if bottleneck:
                    branch = nn.Sequential(_bconv(in_c, mid, 1, 1), norm(mid), nn.ReLU(),
                                           _bconv(mid, mid, 3, stride), norm(mid), nn.ReLU(),
                                           _bconv(mid, out_c, 1, 1), norm(out_c, True))
                else:
                    branch = nn.Sequential(_bconv(in_c, mid, 3, stride), norm(mid), nn.ReLU(),
                                           _bconv(mid, out_c, 3, 1), norm(out_c, True))
                shortcut = None
                if stride != 1 or in_c != out_c:
                    shortcut = nn.Sequential(_bconv(in_c, out_c, 1, stride), norm(out_c))
                layer.append(ResidualBlock(branch, shortcut))
                in_c = out_c
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layer))
            self.out_channels.append(out_c)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for bn, last in norms:
            nn.init.constant_(bn.weight, 0.0 if (last and o["zero_init_residual"]) else 1.0)
            nn.init.zeros_(bn.bias)
        self.norms = norms and [bn for bn, _ in norms]
        if self.frozen_norm:
            for bn in self.norms:
                for p in bn.parameters():
                    p.requires_grad_(False)
        frozen = []
        if o["frozen_stages"] >= 1:
            frozen.append(self.stem)
        for s in range(o["frozen_stages"] - 1):
            frozen.append(getattr(self, "layer%d" % (s + 1)))
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        if self.frozen_norm:
            for bn in self.norms:
                bn.eval()
        return self

    def forward(self, x):
        h = self.stem(x)
        feats = []
        for s in range(4):
            h = getattr(self, "layer%d" % (s + 1))(h)
            feats.append(h)
        return feats


def _fconv(cin, cout, k, stride=1):
    c = nn.Conv2d(cin, cout, k, stride, k // 2)
    nn.init.kaiming_uniform_(c.weight, a=1.0)
    nn.init.zeros_(c.bias)
    return c


class Fpn(nn.Module):
    def __init__(self, o, in_channels):
        super().__init__()
        self.min_level, self.max_level, self.pa = o["min_level"], o["max_level"], o["path_aggregation"]
        c = o["channels"]
        self.lateral = nn.ModuleList([_fconv(in_channels[l - 2], c, 1) for l in range(self.min_level, 6)])
        self.output = nn.ModuleList([_fconv(c, c, 3) for _ in range(self.min_level, 6)])
        self.extra = nn.ModuleList([_fconv(c, c, 3, 2) for _ in range(6, self.max_level + 1)])
        if self.pa:
            hidden = max(1, c // o["se_reduction"])
            n = self.max_level - self.min_level
            self.down = nn.ModuleList([_fconv(c, c, 3, 2) for _ in range(n)])
            self.attention = nn.ModuleList([nn.ModuleList([_fconv(c, hidden, 1), _fconv(hidden, c, 1)])
                                            for _ in range(n)])
            self.smooth = nn.ModuleList([_fconv(c, c, 3) for _ in range(n)])

    def forward(self, feats):
        lo = self.min_level
        n_lat = 6 - lo
        merged = [None] * n_lat
        merged[n_lat - 1] = self.lateral[n_lat - 1](feats[3])
        for i in range(n_lat - 2, -1, -1):
            lat = self.lateral[i](feats[lo - 2 + i])
            merged[i] = lat + F.interpolate(merged[i + 1], size=(lat.shape[2], lat.shape[3]), mode="nearest")
        p = [self.output[i](merged[i]) for i in range(n_lat)]
        for i, conv in enumerate(self.extra):
            p.append(conv(p[-1] if i == 0 else F.relu(p[-1])))
        if not self.pa:
            return p
        n = [p[0]]
        for i in range(1, len(p)):
            down = F.relu(self.down[i - 1](n[-1]))
            se = self.attention[i - 1]
            pooled = F.adaptive_avg_pool2d(p[i], (1, 1))
            gate = torch.sigmoid(se[1](F.relu(se[0](pooled))))
            n.append(self.smooth[i - 1](p[i] + gate * down))
        return n


def _hconv(cin, cout):
    c = nn.Conv2d(cin, cout, 3, 1, 1)
    nn.init.normal_(c.weight, 0.0, 0.01)
    nn.init.zeros_(c.bias)
    return c


def _tower(o, c):
    layers = []
    for _ in range(o["num_convs"]):
        layers.append(_hconv(c, c))
        if o["norm"] == "group":
            g = 32
            while c % g:
                g //= 2
            layers.append(nn.GroupNorm(g, c))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _flatten_level(x, a, k):
    b, _, h, w = x.shape
    return x.view(b, a, k, h, w).permute(0, 3, 4, 1, 2).reshape(b, h * w * a, k)


class RetinaHead(nn.Module):
    def __init__(self, o, c, num_anchors, num_classes):
        super().__init__()
        self.a, self.k = num_anchors, num_classes
        self.cls_tower = _tower(o, c)
        self.box_tower = _tower(o, c)
        self.cls_out = _hconv(c, num_anchors * num_classes)
        nn.init.constant_(self.cls_out.bias, -math.log((1.0 - o["prior_prob"]) / o["prior_prob"]))
        self.box_out = _hconv(c, num_anchors * 4)
        self.iou_out = _hconv(c, num_anchors) if o["iou_branch"] else None

    def forward(self, feats):
        cls, box, iou = [], [], []
        for f in feats:
            ct, bt = self.cls_tower(f), self.box_tower(f)
            cls.append(_flatten_level(self.cls_out(ct), self.a, self.k))
            box.append(_flatten_level(self.box_out(bt), self.a, 4))
            if self.iou_out is not None:
                iou.append(_flatten_level(self.iou_out(bt), self.a, 1))
        return torch.cat(cls, 1), torch.cat(box, 1), (torch.cat(iou, 1).squeeze(-1) if iou else None)


class Anchors:
    """AnchorGenerator (torchvision 0.14 semantics, float32 base anchors)."""

    def __init__(self, o, levels):
        self.levels = levels
        self.offset = o["offset"]
        self.base = []
        for i, lvl in enumerate(levels):
            size = 4.0 * math.ldexp(1.0, lvl) if not o["sizes"] else o["sizes"][i]
            v = []
            for r in o["ratios"]:
                h_ratio = np.sqrt(np.float32(r), dtype=np.float32)
                w_ratio = np.float32(1.0) / h_ratio
                for s in o["scales"]:
                    ss = np.float32(float(size) * float(np.float32(s)))
                    ws, hs = w_ratio * ss, h_ratio * ss
                    v.append([-ws / np.float32(2), -hs / np.float32(2), ws / np.float32(2), hs / np.float32(2)])
            base = torch.tensor(np.array(v, dtype=np.float32))
            if o["round_base"]:
                base = base.round()
            self.base.append(base)
        self.per_location = len(o["scales"]) * len(o["ratios"])
        self._cache = {}

    def generate(self, sizes, device):
        key = (tuple(sizes), str(device))
        if key not in self._cache:
            parts, per_level, strides = [], [], []
            for i, (h, w) in enumerate(sizes):
                stride = float(math.ldexp(1.0, self.levels[i]))
                sx = (torch.arange(w, dtype=torch.float32) + self.offset) * stride
                sy = (torch.arange(h, dtype=torch.float32) + self.offset) * stride
                yy, xx = torch.meshgrid(sy, sx, indexing="ij")
                yy, xx = yy.reshape(-1), xx.reshape(-1)
                shifts = torch.stack([xx, yy, xx, yy], 1)
                parts.append((shifts.view(-1, 1, 4) + self.base[i].view(1, -1, 4)).reshape(-1, 4))
                per_level.append(parts[-1].shape[0])
                strides.append(stride)
            self._cache[key] = (torch.cat(parts, 0).to(device), per_level, strides)
        return self._cache[key]


class BoxCoder:
    def __init__(self, o):
        self.wx, self.wy, self.ww, self.wh, self.clamp = o["wx"], o["wy"], o["ww"], o["wh"], o["clamp"]

    def encode(self, boxes, anchors):
        aw = anchors[..., 2] - anchors[..., 0]
        ah = anchors[..., 3] - anchors[..., 1]
        ax = anchors[..., 0] + 0.5 * aw
        ay = anchors[..., 1] + 0.5 * ah
        gw = boxes[..., 2] - boxes[..., 0]
        gh = boxes[..., 3] - boxes[..., 1]
        gx = boxes[..., 0] + 0.5 * gw
        gy = boxes[..., 1] + 0.5 * gh
        return torch.stack([self.wx * (gx - ax) / aw, self.wy * (gy - ay) / ah,
                            self.ww * torch.log(gw / aw), self.wh * torch.log(gh / ah)], -1)

    def decode(self, deltas, anchors):
        a = anchors.to(deltas.dtype)
        aw = a[..., 2] - a[..., 0]
        ah = a[..., 3] - a[..., 1]
        ax = a[..., 0] + 0.5 * aw
        ay = a[..., 1] + 0.5 * ah
        dx = deltas[..., 0] / self.wx
        dy = deltas[..., 1] / self.wy
        dw = torch.clamp(deltas[..., 2] / self.ww, max=self.clamp)
        dh = torch.clamp(deltas[..., 3] / self.wh, max=self.clamp)
        cx, cy = dx * aw + ax, dy * ah + ay
        w, h = torch.exp(dw) * aw, torch.exp(dh) * ah
        return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


class DetectorNet(nn.Module):
    """RetinaNetImpl: forward(images [B,3,H,W] normalised) ->
    (cls_logits [B,N,C], box_deltas [B,N,4], iou_logits [B,N] or None, anchors [N,4],
     anchors_per_level, level_strides, padded (H, W))."""

    def __init__(self, model_cfg):
        super().__init__()
        m = model_cfg
        if m["input_size"] < 32 or m["input_size"] % 32:
            raise ValueError("retina_net.input_size: expected a positive multiple of 32, found %s" % m["input_size"])
        self.cfg = m
        self.backbone = ResNet(m["backbone"])
        self.neck = Fpn(m["neck"], self.backbone.out_channels)
        levels = list(range(m["neck"]["min_level"], m["neck"]["max_level"] + 1))
        self.anchor_gen = Anchors(m["anchors"], levels)
        self.head = RetinaHead(m["head"], m["neck"]["channels"], self.anchor_gen.per_location, len(m["classes"]))
        self.coder = BoxCoder(m["box_coder"])

    def forward(self, images):
        h, w = images.shape[2], images.shape[3]
        ph, pw = (h + 31) // 32 * 32, (w + 31) // 32 * 32
        x = images if (ph == h and pw == w) else F.pad(images, (0, pw - w, 0, ph - h), value=0.0)
        feats = self.neck(self.backbone(x))
        cls, box, iou = self.head(feats)
        anchors, per_level, strides = self.anchor_gen.generate([(f.shape[2], f.shape[3]) for f in feats],
                                                              images.device)
        return cls, box, iou, anchors, per_level, strides, (ph, pw)


# ---------------------------------------------------------------------------------------------
# Box helpers (assign_result.cpp, giou_loss.cpp).

def _area(x):
    return (x[..., 2] - x[..., 0]).clamp_min(0) * (x[..., 3] - x[..., 1]).clamp_min(0)


def pairwise_iou(a, b, giou=False):
    """a [...,N,4], b [...,M,4] -> [...,N,M] (batched pairwise_box_iou / pairwise_box_giou)."""
    lt = torch.max(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.min(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = (rb - lt).clamp_min(0)
    inter = wh[..., 0] * wh[..., 1]
    uni = _area(a)[..., :, None] + _area(b)[..., None, :] - inter
    iou = torch.where(uni > 0, inter / uni.clamp_min(1e-12), torch.zeros_like(inter))
    if not giou:
        return iou
    elt = torch.min(a[..., :, None, :2], b[..., None, :, :2])
    erb = torch.max(a[..., :, None, 2:], b[..., None, :, 2:])
    ewh = (erb - elt).clamp_min(0)
    enc = ewh[..., 0] * ewh[..., 1]
    return iou - torch.where(enc > 0, (enc - uni) / enc.clamp_min(1e-12), torch.zeros_like(enc))


def box_centers(b):
    return torch.stack([(b[..., 0] + b[..., 2]) * 0.5, (b[..., 1] + b[..., 3]) * 0.5], -1)


def centers_inside(centers, boxes, eps=1e-6):
    """centers [A,2], boxes [...,G,4] -> [...,G,A] bool."""
    cx, cy = centers[:, 0], centers[:, 1]
    l = cx - boxes[..., 0:1]
    t = cy - boxes[..., 1:2]
    r = boxes[..., 2:3] - cx
    b = boxes[..., 3:4] - cy
    return torch.min(torch.min(l, t), torch.min(r, b)) > eps


def _overlap(a, b):
    w = (torch.min(a[..., 2], b[..., 2]) - torch.max(a[..., 0], b[..., 0])).clamp_min(0)
    h = (torch.min(a[..., 3], b[..., 3]) - torch.max(a[..., 1], b[..., 1])).clamp_min(0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    inter = w * h
    return inter, area_a + area_b - inter


def aligned_iou(p, t, eps=1e-7):
    inter, uni = _overlap(p, t)
    return inter / (uni + eps)


def giou_loss(p, t, eps=1e-7):
    inter, uni = _overlap(p, t)
    iou = inter / (uni + eps)
    cw = torch.max(p[..., 2], t[..., 2]) - torch.min(p[..., 0], t[..., 0])
    ch = torch.max(p[..., 3], t[..., 3]) - torch.min(p[..., 1], t[..., 1])
    area_c = cw * ch
    return 1 - (iou - (area_c - uni) / (area_c + eps))


def sigmoid_focal_loss(logits, targets, alpha, gamma):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * torch.pow(1 - p_t, gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


# ---------------------------------------------------------------------------------------------
# Assigners. gt_boxes [B,G,4] padded, gt_valid [B,G] bool, gt_labels [B,G]. -> matched [B,A].

def assign_max_iou(o, anchors, gt_boxes, gt_valid):
    B, G = gt_valid.shape
    A = anchors.shape[0]
    matched = torch.full((B, A), ASSIGN_BACKGROUND, dtype=torch.long, device=anchors.device)
    if G == 0:
        return matched
    iou = pairwise_iou(gt_boxes.to(anchors.dtype), anchors)                # [B,G,A]
    iou = torch.where(gt_valid[:, :, None], iou, torch.full_like(iou, -1.0))
    best_iou, best_gt = iou.max(1)                                          # [B,A]
    matched = best_gt.clone()
    matched[best_iou < o["pos_iou"]] = ASSIGN_IGNORE
    matched[best_iou < o["neg_iou"]] = ASSIGN_BACKGROUND
    if o["low_quality_matches"]:
        gt_best = iou.max(2)[0]                                              # [B,G]
        ok = gt_valid & (gt_best > 0) & (gt_best >= o["min_low_quality_iou"])
        ties = (iou == gt_best[:, :, None]) & ok[:, :, None]                 # [B,G,A]
        g_idx = torch.arange(G, device=anchors.device).view(1, G, 1).expand_as(ties)
        last = torch.where(ties, g_idx, torch.full_like(g_idx, -1)).max(1)[0]  # the later box wins
        matched = torch.where(last >= 0, last, matched)
    return matched


def assign_atss(o, anchors, per_level, per_location, gt_boxes, gt_valid):
    B, G = gt_valid.shape
    A = anchors.shape[0]
    matched = torch.full((B, A), ASSIGN_BACKGROUND, dtype=torch.long, device=anchors.device)
    if G == 0:
        return matched
    gt = gt_boxes.to(anchors.dtype)
    iou = pairwise_iou(gt, anchors)                                          # [B,G,A]
    anchor_c = box_centers(anchors)                                          # [A,2]
    gt_c = box_centers(gt)                                                   # [B,G,2]
    dist = (gt_c[:, :, None, :] - anchor_c[None, None]).pow(2).sum(-1).sqrt()  # [B,G,A]
    cands, start = [], 0
    for n in per_level:
        if n == 0:
            continue
        k = min(o["top_k"] * max(1, per_location), n)
        idx = dist[:, :, start:start + n].topk(k, 2, largest=False)[1]
        cands.append(idx + start)
        start += n
    cand = torch.cat(cands, 2)                                               # [B,G,K]
    cand_iou = iou.gather(2, cand)
    mean = cand_iou.mean(2, keepdim=True)
    thr = mean + (cand_iou.std(2, unbiased=True, keepdim=True) if cand_iou.shape[2] > 1 else torch.zeros_like(mean))
    inside = centers_inside(anchor_c, gt).gather(2, cand)
    positive = (cand_iou >= thr) & inside & gt_valid[:, :, None]
    claim = torch.full_like(iou, float("-inf"))
    claim.scatter_(2, cand, torch.where(positive, cand_iou, torch.full_like(cand_iou, float("-inf"))))
    best, best_gt = claim.max(1)                                             # [B,A]
    return torch.where(best > float("-inf"), best_gt, matched)


def sinkhorn(cost, supply, demand, eps, iterations):
    """sinkhorn.cpp in the log domain. cost [...,M,N], supply [...,M], demand [...,N] (a leading batch
    dimension solves several independent problems at once) -> plan [...,M,N] float64."""
    c = cost.double()
    log_mu = supply.double().clamp_min(1e-300).log()
    log_nu = demand.double().clamp_min(1e-300).log()
    f = torch.zeros_like(log_mu)
    g = torch.zeros_like(log_nu)
    neg_c = -c / eps
    for _ in range(iterations):
        g = eps * (log_nu - torch.logsumexp(neg_c + (f / eps).unsqueeze(-1), -2))
        f = eps * (log_mu - torch.logsumexp(neg_c + (g / eps).unsqueeze(-2), -1))
    return torch.exp(neg_c + (f / eps).unsqueeze(-1) + (g / eps).unsqueeze(-2))


def ota_cost(o, cls_logits, pred_boxes, gt_boxes, gt_labels, prior_ok):
    logits = cls_logits.double()
    p = logits.sigmoid()
    alpha, gamma = o["focal_alpha"], o["focal_gamma"]
    fl_neg = -(1 - alpha) * p.pow(gamma) * F.logsigmoid(-logits)
    fl_pos = -alpha * (1 - p).pow(gamma) * F.logsigmoid(logits)
    bg = fl_neg.sum(1)
    cls = bg.unsqueeze(0) + (fl_pos - fl_neg).index_select(1, gt_labels.long()).t()
    reg = 1.0 - pairwise_iou(gt_boxes.double(), pred_boxes.double(), giou=True)
    fg = cls + o["reg_weight"] * reg + o["outside_cost"] * (~prior_ok).double()
    return torch.cat([fg, bg.unsqueeze(0)], 0)


def ota_problem(o, anchors, per_level, strides, gt, gt_labels, cls_logits, pred_boxes):
    """Steps 1-3 of OtaAssigner::assign for one image (gt [G,4], G >= 1): the candidate anchors
    [n] and the transport problem (cost [G+1,n] with the background last, supply [G+1]), or None
    without candidates."""
    gt = gt.to(anchors.dtype)
    G = gt.shape[0]
    anchor_stride = torch.cat([torch.full((n,), s, dtype=anchors.dtype, device=anchors.device)
                               for n, s in zip(per_level, strides)])
    centers = box_centers(anchors)
    in_box = centers_inside(centers, gt, 0.0)
    gt_c = box_centers(gt)
    radius = (o["center_radius"] * anchor_stride).unsqueeze(0)
    in_center = ((centers[:, 0].unsqueeze(0) - gt_c[:, 0:1]).abs() < radius) & \
                ((centers[:, 1].unsqueeze(0) - gt_c[:, 1:2]).abs() < radius)
    candidate = (in_box | in_center).any(0)
    cand_idx = candidate.nonzero().squeeze(1)
    n = cand_idx.shape[0]
    if n == 0:
        return None
    cls = cls_logits.index_select(0, cand_idx)
    pred = pred_boxes.index_select(0, cand_idx).to(anchors.dtype)
    prior_ok = (in_box & in_center).index_select(1, cand_idx)
    pred_iou = pairwise_iou(gt, pred)
    q = min(o["top_q"], n)
    k = pred_iou.topk(q, 1)[0].sum(1).long().clamp_min(1)
    supply = torch.cat([k.double(), torch.zeros(1, dtype=torch.float64, device=k.device)])
    asked = float(k.sum().item())
    if asked < n:
        supply[G] = n - asked
    else:
        supply = supply * (n / asked)
    return cand_idx, ota_cost(o, cls, pred, gt, gt_labels, prior_ok), supply


def assign_ota(o, anchors, per_level, strides, gt_boxes, gt_labels, counts, cls_logits, pred_boxes):
    """OtaAssigner::assign for a batch. The per-image transport problems are padded into one
    [B, Gmax+1, Nmax] Sinkhorn solve: padded rows and columns get supply/demand 0 (1e-300 after the
    clamp) and a huge cost, so after the first half-step they carry at most 1e-300 of mass and the
    real entries come out as when each image is solved alone (tests/test_detector_mirror.py checks
    batched = per image)."""
    B, A = len(counts), anchors.shape[0]
    out = torch.full((B, A), ASSIGN_BACKGROUND, dtype=torch.long, device=anchors.device)
    probs = []
    for b, g in enumerate(counts):
        if g == 0:
            continue
        p = ota_problem(o, anchors, per_level, strides, gt_boxes[b, :g], gt_labels[b, :g], cls_logits[b].float(),
                        pred_boxes[b].float())
        if p is not None:
            probs.append((b, g) + p)
    if not probs:
        return out
    gmax = max(g for _, g, _, _, _ in probs)
    nmax = max(c.shape[0] for _, _, c, _, _ in probs)
    P = len(probs)
    cost = torch.full((P, gmax + 1, nmax), 1e9, dtype=torch.float64, device=anchors.device)
    supply = torch.zeros((P, gmax + 1), dtype=torch.float64, device=anchors.device)
    demand = torch.zeros((P, nmax), dtype=torch.float64, device=anchors.device)
    for i, (_, g, cand, c, s) in enumerate(probs):
        n = cand.shape[0]
        cost[i, :g, :n] = c[:g]
        cost[i, gmax, :n] = c[g]
        supply[i, :g] = s[:g]
        supply[i, gmax] = s[g]
        demand[i, :n] = 1.0
    plan = sinkhorn(cost, supply, demand, o["sinkhorn_epsilon"], o["sinkhorn_iterations"])
    winner = plan.max(1)[1]                                                   # [P, Nmax]
    for i, (b, g, cand, _, _) in enumerate(probs):
        w = winner[i, :cand.shape[0]]
        out[b, cand] = torch.where(w == gmax, torch.full_like(w, ASSIGN_BACKGROUND), w)
    return out


_LOG_2PI = math.log(2 * math.pi)


def _gmm_log_weighted(x, w, mean, var):
    """log(w_k N(x; mean_k, var_k)): x [P,M], w/mean/var [P,2] -> [P,M,2]."""
    d = x.unsqueeze(-1) - mean.unsqueeze(1)
    return w.log().unsqueeze(1) - 0.5 * (_LOG_2PI + var.log().unsqueeze(1) + d * d / var.unsqueeze(1))


def fit_two_gaussians(x, mask, o):
    """gaussian_mixture.cpp fit_two_gaussians for P independent rows at once: x [P,M] float64, mask
    [P,M] bool (at least one per row). Each row stops on its own tolerance exactly as the C++ loop
    (a finished row keeps its parameters). -> (weight, mean, var) [P,2] each, iterations [P]."""
    P = x.shape[0]
    n = mask.sum(1).to(x.dtype)
    inf = torch.full_like(x, math.inf)
    mean = torch.stack([torch.where(mask, x, inf).min(1)[0], torch.where(mask, x, -inf).max(1)[0]], 1)
    var = torch.ones_like(mean)
    w = torch.full_like(mean, 0.5)
    prev = torch.full((P,), -math.inf, dtype=x.dtype, device=x.device)
    done = torch.zeros(P, dtype=torch.bool, device=x.device)
    iters = torch.zeros(P, dtype=torch.long, device=x.device)
    m = mask.unsqueeze(-1).to(x.dtype)
    xs = torch.where(mask, x, torch.zeros_like(x))
    for _ in range(o["em_iterations"]):
        lw = _gmm_log_weighted(xs, w, mean, var)
        norm = torch.logsumexp(lw, 2)
        ll = (norm * mask).sum(1) / n
        resp = (lw - norm.unsqueeze(-1)).exp() * m
        nk = resp.sum(1) + 10 * torch.finfo(torch.float64).eps
        new_mean = (resp * xs.unsqueeze(-1)).sum(1) / nk
        d = xs.unsqueeze(-1) - new_mean.unsqueeze(1)
        new_var = (resp * d * d).sum(1) / nk + o["em_reg_covar"]
        new_w = nk / nk.sum(1, keepdim=True)
        upd = (~done).unsqueeze(1)
        mean = torch.where(upd, new_mean, mean)
        var = torch.where(upd, new_var, var)
        w = torch.where(upd, new_w, w)
        iters = iters + (~done).long()
        done = done | ((ll - prev).abs() < o["em_tolerance"])
        prev = ll
        if bool(done.all()):
            break
    return w, mean, var, iters


def paa_separate(x, mask, o):
    """paa_assigner.cpp paa_separate per row: x [P,M] float64 losses, mask [P,M] -> positive [P,M]."""
    w, mean, var, _ = fit_two_gaussians(x, mask, o)
    xs = torch.where(mask, x, torch.zeros_like(x))
    lw = _gmm_log_weighted(xs, w, mean, var)
    comp = (lw[..., 1] > lw[..., 0]).long()
    fg = (mean[:, 1] < mean[:, 0]).long().unsqueeze(1)
    claimed = mask & (comp == fg)
    dens = torch.where(claimed, torch.logsumexp(lw, 2), torch.full_like(x, -math.inf))
    best = dens.max(1, keepdim=True)[0]
    thr = torch.where(claimed & (dens == best), x, torch.full_like(x, math.inf)).min(1, keepdim=True)[0]
    any_fg = claimed.any(1, keepdim=True)
    single = mask.sum(1, keepdim=True) <= 1
    return mask & ((x <= thr) | ~any_fg | single)


def paa_anchor_losses(o, cls_logits, pred_boxes, gt_boxes, gt_labels):
    """PaaAssigner::anchor_losses: [N,C], [N,4], [N,4], [N] -> [N] float64."""
    logits = cls_logits.double()
    onehot = torch.zeros_like(logits)
    onehot.scatter_(1, gt_labels.long().unsqueeze(1), 1.0)
    cls = sigmoid_focal_loss(logits, onehot, o["focal_alpha"], o["focal_gamma"]).sum(1)
    return cls + o["reg_weight"] * giou_loss(pred_boxes.double(), gt_boxes.double())


def assign_paa(o, anchors, per_level, gt_boxes, gt_labels, gt_valid, cls_logits, pred_boxes):
    """PaaAssigner::assign for a batch: the candidates of all images and boxes are ranked per
    (image, box, level) with one stable sort, and the mixtures of all boxes are fitted together."""
    B, G = gt_valid.shape
    A = anchors.shape[0]
    out = torch.full((B, A), ASSIGN_BACKGROUND, dtype=torch.long, device=anchors.device)
    if G == 0:
        return out
    pre_o = {"pos_iou": o["candidate_iou"], "neg_iou": o["candidate_iou"], "low_quality_matches": True,
             "min_low_quality_iou": 0.0}
    pre = assign_max_iou(pre_o, anchors, gt_boxes, gt_valid)                   # [B,A]
    cb, ca = (pre >= 0).nonzero(as_tuple=True)                                 # row-major: anchor order
    if cb.numel() == 0:
        return out
    cg = pre[cb, ca]
    loss = paa_anchor_losses(o, cls_logits[cb, ca].float(), pred_boxes[cb, ca].float(),
                             gt_boxes[cb, cg].to(anchors.dtype), gt_labels[cb, cg])
    if not bool(torch.isfinite(loss).all()):
        raise ValueError("PAA: a candidate's loss is not finite (the predictions have diverged)")
    ends = torch.tensor(list(itertools.accumulate(per_level)), device=anchors.device)
    level = torch.bucketize(ca, ends, right=True)
    L = len(per_level)
    # Rank within (image, box, level) by (loss, anchor): stable sort by loss, then by group.
    order = torch.sort(loss, stable=True)[1]
    group = (cb * G + cg) * L + level
    order = order[torch.sort(group[order], stable=True)[1]]
    g_sorted = group[order]
    first = torch.ones_like(g_sorted, dtype=torch.bool)
    first[1:] = g_sorted[1:] != g_sorted[:-1]
    start = torch.cummax(torch.where(first, torch.arange(len(order), device=order.device),
                                     torch.zeros_like(order)), 0)[0]
    rank = torch.arange(len(order), device=order.device) - start
    keep = order[rank < o["top_k"]]
    # One mixture per (image, box): rows of a padded [P, M] matrix.
    box_id = cb[keep] * G + cg[keep]
    ids, row = torch.unique(box_id, return_inverse=True)
    P = ids.numel()
    counts = torch.bincount(row, minlength=P)
    M = int(counts.max())
    srt = torch.sort(row, stable=True)[1]
    row_s = row[srt]
    col = torch.arange(len(srt), device=row.device) - (torch.cumsum(counts, 0) - counts)[row_s]
    x = torch.zeros(P, M, dtype=torch.float64, device=anchors.device)
    mask = torch.zeros(P, M, dtype=torch.bool, device=anchors.device)
    x[row_s, col] = loss[keep][srt]
    mask[row_s, col] = True
    pos = paa_separate(x, mask, o)[row_s, col]
    sel = keep[srt][pos]
    out[cb[sel], ca[sel]] = cg[sel]
    return out


def assign(cfg_assigner, anchors, per_level, strides, per_location, gt_boxes, gt_labels, gt_valid,
           cls_logits=None, pred_boxes=None):
    """Assigner::assign for a whole batch, without gradients. -> matched [B,A] (gt index, -1, -2)."""
    kind = cfg_assigner["kind"]
    with torch.no_grad():
        if kind == "max_iou":
            return assign_max_iou(cfg_assigner["max_iou"], anchors, gt_boxes, gt_valid)
        if kind == "atss":
            return assign_atss(cfg_assigner["atss"], anchors, per_level, per_location, gt_boxes, gt_valid)
        if kind == "ota":
            counts = [int(c) for c in gt_valid.sum(1).tolist()]  # valid boxes come first in each row
            return assign_ota(cfg_assigner["ota"], anchors, per_level, strides, gt_boxes, gt_labels, counts,
                              cls_logits, pred_boxes)
        if kind == "paa":
            return assign_paa(cfg_assigner["paa"], anchors, per_level, gt_boxes, gt_labels, gt_valid, cls_logits,
                              pred_boxes)
    raise ValueError("assigner.kind: expected max_iou, atss, ota or paa, found %s" % kind)


def build_targets(matched, gt_boxes, gt_labels):
    """build_detection_targets: matched [B,A] -> labels [B,A] (class, -1, -2), boxes [B,A,4]."""
    if gt_boxes.shape[1] == 0:
        return matched, torch.zeros(matched.shape + (4,), dtype=torch.float32, device=matched.device)
    safe = matched.clamp_min(0)
    labels = torch.where(matched >= 0, gt_labels.gather(1, safe), matched)
    boxes = gt_boxes.gather(1, safe.unsqueeze(-1).expand(-1, -1, 4))
    return labels, boxes


def detection_loss(o, cls_logits, box_deltas, iou_logits, anchors, labels, tboxes, coder):
    """detection_loss.cpp; everything in float32. Returns (total, cls, box, iou, num_pos tensor)."""
    positive = labels >= 0
    valid = labels >= -1
    num_pos = positive.sum()
    norm = num_pos.clamp_min(1).to(torch.float32)
    onehot = torch.zeros_like(cls_logits)
    onehot.scatter_(2, labels.clamp_min(0).unsqueeze(-1), positive.unsqueeze(-1).to(onehot.dtype))
    fl = sigmoid_focal_loss(cls_logits, onehot, o["focal_alpha"], o["focal_gamma"])
    cls = (fl * valid.unsqueeze(-1).to(fl.dtype)).sum() / norm
    pos_b, pos_a = positive.nonzero(as_tuple=True)
    a = anchors.to(box_deltas.dtype)[pos_a]
    d = box_deltas[pos_b, pos_a]
    gt = tboxes.to(box_deltas.dtype)[pos_b, pos_a]
    decoded = None
    if o["box_loss"] == "giou":
        decoded = coder.decode(d, a)
        box = giou_loss(decoded, gt).sum() / norm
    else:
        t = coder.encode(gt, a)
        diff = (d - t).abs()
        beta = o["smooth_l1_beta"]
        l = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta) if beta > 0 else diff
        box = l.sum() / norm
    box = box * o["box_weight"] + box_deltas.sum() * 0.0  # keeps the graph when there is no positive
    iou = cls_logits.new_zeros(())
    if iou_logits is not None:
        if decoded is None:
            decoded = coder.decode(d, a)
        target = aligned_iou(decoded.detach(), gt).clamp(0, 1)
        iou = F.binary_cross_entropy_with_logits(iou_logits[pos_b, pos_a], target, reduction="sum") / norm \
            * o["iou_weight"] + iou_logits.sum() * 0.0
    return cls + box + iou, cls, box, iou, num_pos


# ---------------------------------------------------------------------------------------------
# Letterbox (core/box.cpp) and post-processing (postprocess.cpp).

class Letterbox:
    def __init__(self, src_w, src_h, dst_w, dst_h):
        f32 = np.float32
        self.src_w, self.src_h, self.dst_w, self.dst_h = src_w, src_h, dst_w, dst_h
        self.scale = min(f32(dst_w) / f32(src_w), f32(dst_h) / f32(src_h))
        w = np.floor(f32(src_w) * self.scale + f32(0.5))
        h = np.floor(f32(src_h) * self.scale + f32(0.5))
        self.pad_x = f32(np.floor((f32(dst_w) - w) / f32(2)))
        self.pad_y = f32(np.floor((f32(dst_h) - h) / f32(2)))

    def forward(self, boxes):
        """boxes np [N,4] float32 source pixels -> letterboxed pixels."""
        b = boxes.astype(np.float32)
        s, px, py = self.scale, self.pad_x, self.pad_y
        return np.stack([b[:, 0] * s + px, b[:, 1] * s + py, b[:, 2] * s + px, b[:, 3] * s + py], 1)

    def inverse(self, boxes):
        b = boxes.astype(np.float32)
        s, px, py = self.scale, self.pad_x, self.pad_y
        r = np.stack([(b[:, 0] - px) / s, (b[:, 1] - py) / s, (b[:, 2] - px) / s, (b[:, 3] - py) / s], 1)
        return clip_boxes(r, self.src_w, self.src_h)


def clip_boxes(b, w, h):
    f32 = np.float32
    return np.stack([np.clip(b[:, 0], 0, f32(w)), np.clip(b[:, 1], 0, f32(h)),
                     np.clip(b[:, 2], 0, f32(w)), np.clip(b[:, 3], 0, f32(h))], 1).astype(np.float32)


def _nms(boxes, scores, labels, thr):
    """batched_nms (nms.cpp): class-wise via the coordinate offset, torchvision semantics."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)
    b = boxes.float()
    b = b + (labels.float() * (b.max() + 1)).unsqueeze(1)
    try:
        import torchvision
        return torchvision.ops.nms(b, scores.float(), thr)
    except (ImportError, RuntimeError):
        pass
    order = torch.sort(scores.float().cpu(), descending=True, stable=True)[1].tolist()
    p = b.cpu().numpy()
    area = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    supp = np.zeros(len(p), bool)
    keep = []
    for oi, i in enumerate(order):
        if supp[i]:
            continue
        keep.append(i)
        rest = np.array(order[oi + 1:], dtype=np.int64)
        if len(rest) == 0:
            break
        w = np.maximum(0, np.minimum(p[i, 2], p[rest, 2]) - np.maximum(p[i, 0], p[rest, 0]))
        h = np.maximum(0, np.minimum(p[i, 3], p[rest, 3]) - np.maximum(p[i, 1], p[rest, 1]))
        inter = w * h
        # The float32 ratio is compared in float64, as nms.cpp does; numpy would otherwise round the
        # threshold to float32 and let a box exactly at the threshold survive.
        ovr = (inter / (area[i] + area[rest] - inter)).astype(np.float64)
        supp[rest[ovr > thr]] = True
    return torch.tensor(keep, dtype=torch.long)


def postprocess(o, coder, cls_all, box_all, iou_all, anchors, per_level, in_h, in_w, letterboxes=None):
    """Returns per image a list of dicts {box [4] (original pixels when letterboxes given), class_id,
    score, class_score, iou}, sorted by decreasing score, as postprocess.cpp."""
    cls_all, box_all = cls_all.detach().float(), box_all.detach().float()
    iou_all = iou_all.detach().float() if iou_all is not None else None
    anchors = anchors.float()
    B, _, C = cls_all.shape
    use_iou = iou_all is not None and o["iou_power"] > 0
    p = o["iou_power"]
    out = []
    for b in range(B):
        boxes, scores, cls_s, ious, labels = [], [], [], [], []
        start = 0
        for count in per_level:
            prob = torch.sigmoid(cls_all[b, start:start + count]).flatten()
            idx = (prob > o["score_threshold"]).nonzero().squeeze(1)
            kept = prob.index_select(0, idx)
            k = min(o["topk_per_level"], kept.shape[0])
            if k < kept.shape[0]:
                kept, ti = kept.topk(k)
                idx = idx.index_select(0, ti)
            aidx = torch.div(idx, C, rounding_mode="floor") + start
            dec = coder.decode(box_all[b].index_select(0, aidx), anchors.index_select(0, aidx))
            dec = torch.stack([dec[:, 0].clamp(0, in_w), dec[:, 1].clamp(0, in_h),
                               dec[:, 2].clamp(0, in_w), dec[:, 3].clamp(0, in_h)], 1)
            rank = kept
            if use_iou:
                iou = torch.sigmoid(iou_all[b].index_select(0, aidx))
                rank = torch.pow(kept, 1.0 - p) * torch.pow(iou, p)
                ious.append(iou)
            boxes.append(dec)
            scores.append(rank)
            cls_s.append(kept)
            labels.append(torch.remainder(idx, C))
            start += count
        ab, asc, al, ac = torch.cat(boxes), torch.cat(scores), torch.cat(labels), torch.cat(cls_s)
        ai = torch.cat(ious) if use_iou else None
        keep = _nms(ab, asc, al, o["nms_threshold"])[:o["max_detections"]].to(ab.device)
        bx = ab[keep].cpu().numpy().astype(np.float32)
        if letterboxes is not None and len(bx):
            bx = letterboxes[b].inverse(bx)
        sc, cs, lb = asc[keep].cpu().numpy(), ac[keep].cpu().numpy(), al[keep].cpu().numpy()
        iv = ai[keep].cpu().numpy() if use_iou else None
        out.append([{"box": bx[i].tolist(), "class_id": int(lb[i]), "score": float(sc[i]),
                     "class_score": float(cs[i]), "iou": float(iv[i]) if use_iou else -1.0}
                    for i in range(len(bx))])
    return out


