#!/usr/bin/python3
"""Unit checks of the PyTorch detector mirror (tools/gpu/detector_mirror.py, train_detector.py)
against what the C++ tests check: the torchvision goldens under tests/golden/{detector,assign,metrics}
(anchors, box coder, focal loss, GIoU, NMS, Sinkhorn, PAA's mixture, COCO metrics) and the hand-computed
MaxIoU / ATSS / PAA cases of tests/unit/models/assign/*_test.cpp, plus properties of the batched code: a batch of
images with different box counts (padded) assigns exactly as each image alone, and the device
augmentation keeps boxes on their pixels. Runs in a few seconds on CPU; exits 1 on any failure.

    /usr/bin/python3 tools/gpu/test_detector_mirror.py
"""
import json
import os
import sys

try:
    import numpy as np
    import torch
except ImportError:  # ctest: SKIP_RETURN_CODE 77 (this interpreter has no torch)
    print("skipped: %s has no torch" % sys.executable)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import detector_mirror as dm  # noqa: E402
import train_detector as td  # noqa: E402

FAILS = []


def check(name, ok, detail=""):
    print("%-44s %s %s" % (name, "ok" if ok else "FAIL", detail))
    if not ok:
        FAILS.append(name)


def golden(path):
    return json.load(open(os.path.join(ROOT, "tests/golden", path)))


def t(v, shape=None):
    x = torch.tensor(v, dtype=torch.float32)
    return x.view(*shape) if shape else x


def close(a, b, atol, rtol):
    return bool(torch.allclose(a, b, atol=atol, rtol=rtol))


def test_anchors():
    g = golden("detector/anchors.json")
    ok = True
    for l, sizes in enumerate(g["torchvision_sizes"]):
        o = dict(dm.DEFAULT_CONFIG["model"]["anchors"])
        o["sizes"] = [float(sizes[0])]
        f32 = np.float32
        o["scales"] = [1.0, float(f32(sizes[1]) / f32(sizes[0])), float(f32(sizes[2]) / f32(sizes[0]))]
        ok = ok and torch.equal(dm.Anchors(o, [3]).base[0], t(g["base_anchors"][l], (9, 4)))
    check("anchors: base anchors = torchvision", ok)
    gg = g["grid"]
    o = dict(dm.DEFAULT_CONFIG["model"]["anchors"])
    o["sizes"] = gg["sizes"]
    anchors, per_level, _ = dm.Anchors(o, gg["levels"]).generate([tuple(s) for s in gg["feature_sizes"]], "cpu")
    check("anchors: grid = torchvision", torch.equal(anchors, t(gg["anchors"], (-1, 4))) and per_level == [216, 54])


def test_box_coder():
    g = golden("detector/box_coder.json")
    a, b, d = t(g["anchors"], (-1, 4)), t(g["boxes"], (-1, 4)), t(g["deltas"], (-1, 4))
    ok = True
    for c in g["cases"]:
        w = c["weights"]
        coder = dm.BoxCoder({"wx": w[0], "wy": w[1], "ww": w[2], "wh": w[3], "clamp": c["clamp"]})
        ok = ok and close(coder.encode(b, a), t(c["encoded"], (-1, 4)), 1e-5, 1e-5)
        ok = ok and close(coder.decode(d, a), t(c["decoded"], (-1, 4)), 1e-3, 1e-5)
    check("box coder: encode/decode = torchvision", ok)


def test_losses():
    g = golden("detector/focal_loss.json")
    lg, tg = t(g["logits"], (8, 3)), t(g["targets"], (8, 3))
    ok = all(close(dm.sigmoid_focal_loss(lg, tg, c["alpha"], c["gamma"]), t(c["loss"], (8, 3)), 1e-6, 1e-5)
             for c in g["cases"])
    check("focal loss = torchvision", ok)
    g = golden("detector/giou.json")
    a, b = t(g["a"], (6, 4)), t(g["b"], (5, 4))
    check("pairwise IoU / GIoU = torchvision",
          close(dm.pairwise_iou(a, b), t(g["pairwise_iou"], (6, 5)), 1e-6, 1e-5)
          and close(dm.pairwise_iou(a, b, giou=True), t(g["pairwise_giou"], (6, 5)), 1e-6, 1e-5))
    check("GIoU loss = torchvision",
          close(dm.giou_loss(t(g["pred"], (10, 4)), t(g["target"], (10, 4))), t(g["giou_loss"]), 1e-6, 1e-5))


def test_nms():
    ok = True
    for c in golden("detector/nms.json")["cases"]:
        boxes, scores = t(c["boxes"], (-1, 4)), t(c["scores"])
        zeros = torch.zeros(len(scores), dtype=torch.long)
        ok = ok and dm._nms(boxes, scores, zeros, c["threshold"]).tolist() == c["keep"]
        ok = ok and dm._nms(boxes, scores, torch.tensor(c["groups"]), c["threshold"]).tolist() == c["batched_keep"]
    check("NMS / class-wise NMS = torchvision", ok)


def test_sinkhorn():
    ok, ok_cost = True, True
    for c in golden("assign/sinkhorn.json")["cases"]:
        if c["kind"] == "ota_cost":
            o = dict(dm.DEFAULT_CONFIG["assigner"]["ota"], reg_weight=c["reg_weight"], outside_cost=c["outside_cost"])
            cost = dm.ota_cost(o, torch.tensor(c["cls_logits"], dtype=torch.float64),
                               torch.tensor(c["pred_boxes"], dtype=torch.float64),
                               torch.tensor(c["gt_boxes"], dtype=torch.float64), torch.tensor(c["gt_labels"]),
                               torch.tensor(c["prior_ok"], dtype=torch.bool))
            ok_cost = ok_cost and torch.allclose(cost, torch.tensor(c["cost"], dtype=torch.float64), atol=1e-5, rtol=1e-4)
            continue
        if c["kind"] != "sinkhorn":
            continue
        plan = dm.sinkhorn(torch.tensor(c["cost"], dtype=torch.float64), torch.tensor(c["supply"], dtype=torch.float64),
                           torch.tensor(c["demand"], dtype=torch.float64), c["epsilon"], c["iterations"])
        ok = ok and torch.allclose(plan, torch.tensor(c["plan"], dtype=torch.float64), atol=1e-6, rtol=1e-5)
    check("Sinkhorn = golden (numpy/scipy)", ok)
    check("OTA cost matrix = golden", ok_cost)


def test_paa():
    """The PAA golden (scikit-learn / NumPy) and the hand cases of paa_assigner_test.cpp."""
    o = dict(dm.DEFAULT_CONFIG["assigner"]["paa"])
    cases = golden("assign/paa.json")["cases"]
    gmm = [c for c in cases if c["kind"] == "gmm"]
    # All mixtures in one padded batch, as the assigner fits them.
    M = max(len(c["losses"]) for c in gmm)
    x = torch.zeros(len(gmm), M, dtype=torch.float64)
    mask = torch.zeros(len(gmm), M, dtype=torch.bool)
    for i, c in enumerate(gmm):
        x[i, :len(c["losses"])] = torch.tensor(c["losses"], dtype=torch.float64)
        mask[i, :len(c["losses"])] = True
    w, mean, var, iters = dm.fit_two_gaussians(x, mask, o)
    pos = dm.paa_separate(x, mask, o)
    ok_fit, ok_pos = True, True
    for i, c in enumerate(gmm):
        n = len(c["losses"])
        ok_fit = ok_fit and int(iters[i]) == c["iterations"] and \
            torch.allclose(w[i], torch.tensor(c["weights"], dtype=torch.float64), atol=1e-9, rtol=0) and \
            torch.allclose(mean[i], torch.tensor(c["means"], dtype=torch.float64), atol=1e-9, rtol=0) and \
            torch.allclose(var[i], torch.tensor(c["variances"], dtype=torch.float64), atol=1e-9, rtol=0)
        ok_pos = ok_pos and pos[i, :n].tolist() == c["positive"] and not bool(pos[i, n:].any())
    check("PAA: batched mixture fit = scikit-learn", ok_fit)
    check("PAA: separation = the authors' Fig. 3(c)", ok_pos)
    lc = [c for c in cases if c["kind"] == "anchor_loss"][0]
    loss = dm.paa_anchor_losses(dict(o, reg_weight=lc["reg_weight"]), torch.tensor(lc["cls_logits"], dtype=torch.float64),
                                torch.tensor(lc["pred_boxes"], dtype=torch.float64),
                                torch.tensor(lc["gt_boxes"], dtype=torch.float64), torch.tensor(lc["gt_labels"]))
    check("PAA: anchor losses = golden", torch.allclose(loss, torch.tensor(lc["loss"], dtype=torch.float64), atol=1e-9))
    single = dm.paa_separate(torch.tensor([[5.0, 0.0], [0.4, 0.4]], dtype=torch.float64),
                             torch.tensor([[True, False], [True, True]]), o).tolist()
    check("PAA: one candidate / equal losses are positive", single == [[True, False], [True, True]], str(single))

    five_a = [[0, 0, 16, 16], [2, 0, 18, 16], [0, 2, 16, 18], [4, 4, 20, 20], [-2, -2, 14, 14]]
    five_p = [[0, 0, 16, 16], [0, 0, 16, 14.4], [0, 0, 16, 11.2], [48, 0, 64, 16], [80, 0, 96, 16]]

    def run(anchors, per_level, pred, gt, **over):
        n = len(anchors)
        g = t(gt, (-1, 4))
        return dm.assign_paa(dict(o, **over), t(anchors), per_level, g[None], torch.zeros(1, g.shape[0], dtype=torch.long),
                             torch.ones(1, g.shape[0], dtype=torch.bool), torch.full((1, n, 1), -2.0),
                             t(pred)[None])[0].tolist()
    box = [[0, 0, 16, 16]]
    hand = [
        (run(five_a + [[100, 100, 116, 116]], [6], five_p + [[0, 0, 16, 16]], box), [0, 0, -1, -1, -1, -1]),
        (run(five_a + [[-8, -8, 24, 24], [200, 200, 232, 232]], [5, 2], five_p + [[80, 0, 96, 16], [0, 0, 16, 16]],
             box, top_k=1), [0, -1, -1, -1, -1, -1, -1]),
        (run(five_a + [[-8, -8, 24, 24], [200, 200, 232, 232]], [5, 2], five_p + [[80, 0, 96, 16], [0, 0, 16, 16]],
             box), [0, 0, -1, -1, -1, -1, -1]),
        (run([[0, 0, 16, 16], [2, 0, 18, 16], [8, 0, 24, 16]], [3], [[8, 0, 24, 16]] * 3,
             [[0, 0, 16, 16], [8, 0, 24, 16]]), [0, 0, 1]),
        (run([[0, 0, 16, 16], [16, 0, 32, 16]], [2], [[2, 2, 4, 4]] * 2, [[2, 2, 4, 4]]), [0, -1]),
        (run(five_a, [5], [[1, 1, 15, 15]] * 5, box), [0] * 5),
        (run(five_a, [5], five_p, [[300, 300, 340, 340], [5, 5, 5, 9], [0, 0, 16, 16]]), [2, 2, -1, -1, -1]),
    ]
    bad = [(i, got, want) for i, (got, want) in enumerate(hand) if got != want]
    check("PAA: hand cases of paa_assigner_test.cpp", not bad, str(bad))


def test_metrics():
    g = golden("metrics/detection_cases.json")
    ok, n = True, 0
    for c in g["cases"]:
        if c["class_agnostic"]:
            continue
        classes = ["c%d" % k for k in range(c["num_classes"])]
        imgs = []
        for im in c["images"]:
            gt = im["gt"]
            tb = np.array([x[:4] for x in gt], np.float32).reshape(-1, 4)
            tl = np.array([int(x[4]) for x in gt], np.int64)
            dets = [{"box": x[:4], "class_id": int(x[4]), "score": float(x[5])} for x in im["dt"]]
            imgs.append((tb, tl, dets))
        got = td.evaluate(imgs, classes, c["max_detections"])
        e = c["expected"]
        for k in ("AP", "AP50", "AP75", "AP90", "AR100"):
            ok = ok and abs(got[k] - e[k]) < 1e-9
            for ci, pc in enumerate(e["per_class"]):
                ok = ok and abs(got["per_class"][classes[ci]][k] - pc[k]) < 1e-9
        n += 1
    check("COCO metrics = pycocotools cases (%d)" % n, ok)


def two_levels(gt):
    return (t([[0, 0, 16, 16], [16, 0, 32, 16], [0, 0, 32, 32], [32, 0, 64, 32]]), [2, 2], [16.0, 32.0],
            t(gt, (-1, 4)))


def test_assigners():
    mi = dict(dm.DEFAULT_CONFIG["assigner"]["max_iou"])
    anchors = t([[0, 0, 10, 10], [4, 0, 14, 10], [20, 20, 30, 30], [22, 20, 32, 30]])
    gt = t([[0, 0, 10, 10], [21, 20, 31, 30]])
    r = dm.assign_max_iou(mi, anchors, gt[None], torch.ones(1, 2, dtype=torch.bool))[0].tolist()
    check("MaxIoU: hand case four anchors two boxes", r == [0, -2, 1, 1], str(r))
    lq = dm.assign_max_iou(mi, anchors, t([[0, 0, 10, 30]])[None], torch.ones(1, 1, dtype=torch.bool))[0].tolist()
    check("MaxIoU: low-quality match", lq == [0, -1, -1, -1], str(lq))
    o = {"top_k": 2}
    cases = [([[2, 2, 18, 18], [30, 0, 62, 30]], [0, -1, -1, 1]), ([[0, 0, 16, 16], [0, 0, 16, 14]], [0, -1, -1, -1]),
             ([[0, 0, 16, 14], [0, 0, 16, 16]], [1, -1, -1, -1]), ([[23, 0, 39, 16]], [-1, 0, -1, -1]),
             ([[25, 0, 41, 16]], [-1, -1, -1, -1])]
    ok = True
    for gtb, want in cases:
        a, pl, _, g = two_levels(gtb)
        ok = ok and dm.assign_atss(o, a, pl, 1, g[None], torch.ones(1, len(gtb), dtype=torch.bool))[0].tolist() == want
    a, pl, _, g = two_levels([[2, 2, 18, 18]])
    ok = ok and dm.assign_atss({"top_k": 1}, a, pl, 1, g[None], torch.ones(1, 1, dtype=torch.bool))[0].tolist() == [-1] * 4
    check("ATSS: hand cases of atss_assigner_test.cpp", ok)

    # Batched with padding == each image alone (all four assigners).
    torch.manual_seed(3)
    cfg = dm.merge_config({"model": {"input_size": 128, "backbone": {"width": 0.25}, "neck": {"channels": 16,
                                                                                          "min_level": 3, "max_level": 5}}})
    gen = dm.Anchors(cfg["model"]["anchors"], [3, 4, 5])
    anchors, per_level, strides = gen.generate([(16, 16), (8, 8), (4, 4)], "cpu")
    counts = [3, 0, 7, 1]
    G = max(counts)
    boxes = torch.zeros(4, G, 4)
    labels = torch.zeros(4, G, dtype=torch.long)
    valid = torch.zeros(4, G, dtype=torch.bool)
    for b, n in enumerate(counts):
        xy = torch.rand(n, 2) * 100
        boxes[b, :n] = torch.cat([xy, xy + 8 + torch.rand(n, 2) * 40], 1)
        labels[b, :n] = torch.randint(0, 1, (n,))
        valid[b, :n] = True
    boxes[2, 0] = t([50.3, 50.3, 53.1, 53.1])  # holds no anchor centre: its OTA prior is empty
    cls = torch.randn(4, anchors.shape[0], 1)
    pred = dm.BoxCoder(cfg["model"]["box_coder"]).decode(torch.randn(4, anchors.shape[0], 4) * 0.2, anchors)
    for kind in ("max_iou", "atss", "ota", "paa"):
        ac = dict(cfg["assigner"], kind=kind)
        batched = dm.assign(ac, anchors, per_level, strides, 9, boxes, labels, valid, cls, pred)
        ok = True
        for b, n in enumerate(counts):
            alone = dm.assign(ac, anchors, per_level, strides, 9, boxes[b:b + 1, :n], labels[b:b + 1, :n],
                              valid[b:b + 1, :n], cls[b:b + 1], pred[b:b + 1])
            ok = ok and torch.equal(batched[b], alone[0])
        npos = int((batched >= 0).sum())
        check("%s: batched (padded) = per image" % kind, ok and npos > 0, "%d positives" % npos)


def test_augment():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    a = dict(dm.DEFAULT_CONFIG["augment"])
    a.update(hflip=0.5, vflip=0.5, rot90=0.7, scale_prob=0.8, scale_min=0.7, scale_max=1.3, brightness=0.05)
    S, worst, n = 64, 0.0, 0
    for _ in range(100):
        img = np.full((1, S, S, 3), 200, np.uint8)
        x1, y1 = rng.integers(0, 40, 2)
        w, h = rng.integers(8, 24, 2)
        img[0, y1:y1 + h, x1:x1 + w] = 0
        bx = torch.tensor([[[x1, y1, x1 + w, y1 + h]]], dtype=torch.float32)
        out, b, v = td.augment_batch(torch.from_numpy(img), bx, torch.zeros(1, 1, dtype=torch.long),
                                     torch.ones(1, 1, dtype=torch.bool), a)
        dark = (out[0].mean(0) < 100).nonzero()
        if not bool(v[0, 0]) or len(dark) == 0:
            continue
        tb = torch.tensor([dark[:, 1].min(), dark[:, 0].min(), dark[:, 1].max() + 1, dark[:, 0].max() + 1]).float()
        worst = max(worst, float((tb - b[0, 0]).abs().max()))
        n += 1
    check("augment: boxes follow the pixels", worst <= 1.0 and n > 50, "max error %.2f px over %d" % (worst, n))
    refused = 0
    for extra in ({"scale_shift": 0.5}, {"downsample_prob": 0.5, "downsample_min": 0.5},
                  {"stain_jitter_prob": 0.5, "stain_jitter": 0.2}):
        try:
            td.augment_batch(torch.zeros(1, 8, 8, 3, dtype=torch.uint8), torch.zeros(1, 1, 4),
                             torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.bool),
                             dict(dm.DEFAULT_CONFIG["augment"], **extra))
        except ValueError:
            refused += 1
    check("augment: C++-only options refused, not ignored", refused == 3, "%d of 3" % refused)


def test_letterbox():
    lb = dm.Letterbox(360, 363, 448, 448)
    b = np.array([[10, 20, 100, 200]], np.float32)
    back = lb.inverse(lb.forward(b))
    check("letterbox: C++ maths, round trip", abs(lb.pad_x - 2) < 1e-6 and lb.pad_y == 0 and
          np.abs(back - b).max() < 1e-3, "pad_x %.0f" % lb.pad_x)


def main():
    torch.set_num_threads(1)
    for f in (test_anchors, test_box_coder, test_losses, test_nms, test_sinkhorn, test_paa, test_metrics,
              test_assigners,
              test_augment, test_letterbox):
        f()
    print("FAILED: %s" % FAILS if FAILS else "all passed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
