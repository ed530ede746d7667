"""PyTorch mirror of the C++ Vision Transformer classifier (src/models/vit/*), for GPU training.

Every module has the parameter and buffer names of the C++ module (ms::VisionTransformerImpl:
cls_token, pos_embed, patch_embed.{stem.N,proj}, blockN.{in_proj,out_proj,linear1,linear2,norm1,
norm2}, part_selection.{fc1,fc2}, norm, head), so a state dict written here loads one-to-one into
a model folder written by the C++ trainer (tools/gpu/import_classifier_weights.py). The forward
pass follows the C++ code line by line; tools/gpu/vit_parity.py checks it against the C++
`classify` output. Works with Debian's torch 1.13 (CPU) and torch 2.x (CUDA).

    model = VisionTransformer(config["model"]["vit"], input_size, num_classes)
    logits, embedding = model.forward_features(images)   # images: [B,3,S,S] normalised RGB
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def trunc_normal_(t, std):
    """The C++ vit_trunc_normal_: N(0, std^2) clamped at +-2 std (not resampled)."""
    with torch.no_grad():
        return t.normal_(0.0, std).clamp_(-2 * std, 2 * std)


def patch_grid_side(patch, image_size):
    """floor((image_size / 2^stem_layers - P) / S) + 1, as ms::patch_grid_side."""
    p, s = patch["patch"], patch["stride"]
    if not (0 < s <= p):
        raise ValueError("patch embedding needs 0 < stride <= patch, got patch %d stride %d" % (p, s))
    side = image_size
    for _ in patch.get("stem_channels", []):
        side = (side + 1) // 2  # 3x3, stride 2, padding 1
    if side < p:
        raise ValueError("image of %d px is smaller than one patch after the stem (%d < %d)" % (image_size, side, p))
    return (side - p) // s + 1


class PatchEmbed(nn.Module):
    """Optional conv stem (3x3 s2 conv, BN, ReLU per entry) then a P x P stride-S projection."""

    def __init__(self, patch, in_channels=3):
        super().__init__()
        ch = in_channels
        stem = []
        for out in patch.get("stem_channels", []):
            stem += [nn.Conv2d(ch, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        self.stem = nn.Sequential(*stem) if stem else None
        # LibTorch's default Conv2d init (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(fan_in))) is
        # PyTorch's, so the C++ and this module start from the same distribution.
        self.proj = nn.Conv2d(ch, patch["dim"], patch["patch"], patch["stride"])

    def forward(self, x):
        if self.stem is not None:
            x = self.stem(x)
        return self.proj(x).flatten(2).transpose(1, 2)  # [B,G*G,D]


class EncoderBlock(nn.Module):
    """ms::EncoderBlockImpl: MHSA + GELU MLP, pre- or post-norm, dropout, drop path."""

    def __init__(self, dim, heads, mlp_ratio, dropout, attn_dropout, drop_path, pre_norm, eps=1e-5):
        super().__init__()
        if dim % heads:
            raise ValueError("encoder block: dim %d must be a multiple of heads %d" % (dim, heads))
        hidden = int(math.floor(mlp_ratio * dim + 0.5))  # std::lround
        self.dim, self.heads = dim, heads
        self.dropout, self.attn_dropout, self.drop_path_p, self.pre_norm = dropout, attn_dropout, drop_path, pre_norm
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        for l in (self.in_proj, self.out_proj, self.linear1, self.linear2):
            trunc_normal_(l.weight, 0.02)
            nn.init.zeros_(l.bias)

    def self_attention(self, x):
        b, n, _ = x.shape
        h, hd = self.heads, self.dim // self.heads
        qkv = self.in_proj(x).view(b, n, 3, h, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # Explicit softmax(q k^T / sqrt(hd)) rather than a fused kernel: part selection and
        # `explain` read the probabilities, and with ~50 tokens the fused kernel gains little.
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd)), -1)
        out = torch.matmul(F.dropout(attn, self.attn_dropout, self.training), v)
        out = out.transpose(1, 2).reshape(b, n, self.dim)
        return self.out_proj(out), attn

    def mlp(self, x):
        y = F.dropout(F.gelu(self.linear1(x)), self.dropout, self.training)
        return F.dropout(self.linear2(y), self.dropout, self.training)

    def drop_path(self, branch):
        if not self.training or self.drop_path_p <= 0:
            return branch
        keep = 1.0 - self.drop_path_p
        mask = torch.empty(branch.shape[0], 1, 1, dtype=branch.dtype, device=branch.device).bernoulli_(keep)
        return branch * mask / keep

    def forward(self, x):
        if self.pre_norm:
            a, attn = self.self_attention(self.norm1(x))
            x = x + self.drop_path(F.dropout(a, self.dropout, self.training))
            x = x + self.drop_path(self.mlp(self.norm2(x)))
        else:
            a, attn = self.self_attention(x)
            x = self.norm1(x + self.drop_path(F.dropout(a, self.dropout, self.training)))
            x = self.norm2(x + self.drop_path(self.mlp(x)))
        return x, attn


class PartSelection(nn.Module):
    """ms::PartSelectionImpl (thesis 5.2.3): SE-weighted sum of the class-token attention rows of
    blocks 1..L-1, one arg-max patch token per head, straight-through gate on the scores."""

    def __init__(self, layers, heads, hidden=0):
        super().__init__()
        self.layers, self.heads = layers, heads
        n_in = layers * heads
        hidden = hidden if hidden > 0 else max(4, n_in // 2)
        self.fc1 = nn.Linear(n_in, hidden)  # LibTorch default Linear init, as in the C++ module
        self.fc2 = nn.Linear(hidden, n_in)

    def forward(self, attentions):
        cls_rows = torch.stack([a[:, :, 0, :] for a in attentions], 1)  # [B,L,h,N]
        b = cls_rows.shape[0]
        squeeze = cls_rows[..., 1:].max(3)[0].reshape(b, -1)            # [B,L*h]
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(squeeze)))).view(b, self.layers, self.heads)
        combined = (cls_rows * w.unsqueeze(-1)).sum(1)                 # [B,h,N]
        scores, idx = combined[..., 1:].max(2)
        return idx + 1, scores

    @staticmethod
    def gather(tokens, indices, scores):
        d = tokens.shape[2]
        parts = tokens.gather(1, indices.unsqueeze(-1).expand(-1, -1, d))
        gate = 1 + scores - scores.detach()  # value 1, gradient to the SE weights
        return torch.cat([tokens[:, :1], parts * gate.unsqueeze(-1)], 1)


def sincos_position_embedding(grid, dim):
    """ms::sincos_position_embedding: [grid*grid, dim], quarters sin(x w), cos(x w), sin(y w), cos(y w)."""
    if dim % 4:
        raise ValueError("sinusoidal position embedding needs dim divisible by 4, got %d" % dim)
    q = dim // 4
    omega = 1.0 / torch.pow(torch.tensor(10000.0, dtype=torch.float64), torch.arange(q, dtype=torch.float64) / q)
    coords = torch.arange(grid, dtype=torch.float64)
    ys, xs = coords.repeat_interleave(grid), coords.repeat(grid)
    ox, oy = torch.outer(xs, omega), torch.outer(ys, omega)
    return torch.cat([ox.sin(), ox.cos(), oy.sin(), oy.cos()], 1).float()


class VisionTransformer(nn.Module):
    """ms::VisionTransformerImpl. `vit` is the config's model.vit object (C++ defaults filled in)."""

    DEFAULTS = {"depth": 6, "heads": 3, "mlp_ratio": 4.0, "dropout": 0.0, "attn_dropout": 0.0,
                "drop_path": 0.1, "pre_norm": True, "position": "learned", "part_selection": True,
                "patch": {"dim": 192, "patch": 16, "stride": 12, "stem_channels": []}}

    def __init__(self, vit, image_size, num_classes):
        super().__init__()
        o = dict(self.DEFAULTS, **vit)
        o["patch"] = dict(self.DEFAULTS["patch"], **vit.get("patch", {}))
        if num_classes < 2 or o["depth"] < 1 or (o["part_selection"] and o["depth"] < 2):
            raise ValueError("vision transformer: bad classes/depth/part selection")
        self.options, self.image_size = o, image_size
        dim, depth = o["patch"]["dim"], o["depth"]
        self.grid = patch_grid_side(o["patch"], image_size)
        self.patch_embed = PatchEmbed(o["patch"])
        self.cls_token = nn.Parameter(trunc_normal_(torch.zeros(1, 1, dim), 0.02))
        n = self.grid * self.grid + 1
        if o["position"] == "learned":
            self.pos_embed = nn.Parameter(trunc_normal_(torch.zeros(1, n, dim), 0.02))
        elif o["position"] == "sinusoidal":
            pe = torch.cat([torch.zeros(1, dim), sincos_position_embedding(self.grid, dim)], 0)
            self.register_buffer("pos_embed", pe.unsqueeze(0))
        else:
            raise ValueError("model.vit.position: expected learned or sinusoidal, found %r" % o["position"])
        for i in range(depth):
            dp = o["drop_path"] * i / (depth - 1) if depth > 1 else 0.0
            setattr(self, "block%d" % i, EncoderBlock(dim, o["heads"], o["mlp_ratio"], o["dropout"],
                                                      o["attn_dropout"], dp, o["pre_norm"]))
        self.part_selection = PartSelection(depth - 1, o["heads"]) if o["part_selection"] else None
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        trunc_normal_(self.head.weight, 0.02)
        nn.init.zeros_(self.head.bias)

    def blocks(self):
        return [getattr(self, "block%d" % i) for i in range(self.options["depth"])]

    def forward_features(self, images):
        """images [B,3,S,S] -> (logits [B,C], class-token embedding [B,D], attentions, selected)."""
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        x = F.dropout(x, self.options["dropout"], self.training)
        blocks = self.blocks()
        attentions, selected = [], None
        for blk in blocks[:-1]:
            x, a = blk(x)
            attentions.append(a)
        if self.part_selection is not None:
            selected, scores = self.part_selection(attentions)
            x = PartSelection.gather(x, selected, scores)  # [B,1+h,D]
        x, a = blocks[-1](x)
        attentions.append(a)
        emb = self.norm(x[:, 0])
        return self.head(emb), emb, attentions, selected

    def forward(self, images):
        return self.forward_features(images)[0]


def contrastive_loss(embeddings, labels, margin=0.4):
    """ms::contrastive_loss: mean over all B^2 pairs of 1 - cos (same class) or
    max(cos - margin, 0) (different class), on L2-normalised embeddings."""
    z = embeddings / embeddings.norm(2, 1, keepdim=True).clamp_min(1e-12)
    cos = z @ z.t()
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    b = embeddings.shape[0]
    return torch.where(same, 1 - cos, (cos - margin).clamp_min(0)).sum() / float(b * b)


def split_decay(model):
    """ClassifierNetImpl::split_decay: no weight decay for 1-D tensors, biases, tokens, pos_embed."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name.endswith("bias") or "token" in name or "pos_embed" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return decay, no_decay


def count_macs(model, input_size):
    """Multiply-accumulates of one forward pass on one [1,3,S,S] image: every Conv2d and Linear
    (hooks) plus the two attention matmuls of each encoder block (2 N^2 D). LayerNorm, softmax,
    GELU, pooling and element-wise ops are left out (under 1% here)."""
    macs = [0]
    hooks = []

    def conv_hook(m, inp, out):
        macs[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, inp, out):
        macs[0] += out.numel() * m.in_features

    def block_hook(m, inp, out):
        _, n, d = inp[0].shape
        macs[0] += 2 * n * n * d

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, EncoderBlock):
            hooks.append(m.register_forward_hook(block_hook))
    was_training = model.training
    model.eval()
    p = next(model.parameters())
    with torch.no_grad():
        model(torch.zeros(1, 3, input_size, input_size, dtype=p.dtype, device=p.device))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return macs[0]
