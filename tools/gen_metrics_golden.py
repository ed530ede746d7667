#!/usr/bin/python3
"""Golden reference cases for src/engine/metrics (tests/unit/engine/metrics/golden_test.cpp).

Run with Debian's python (numpy, scikit-learn):  /usr/bin/python3 tools/gen_metrics_golden.py
Writes tests/golden/metrics/{detection,classification}_cases.json.

Detection reference: Debian 12 has no python3-pycocotools, so this is an independent numpy
re-implementation of pycocotools' COCOeval for bounding boxes (evaluateImg + accumulate +
summarize, iouType="bbox", areaRng "all" only, no crowd), written from the algorithm in
cocoeval.py and the COCO detection evaluation page, not from the C++ code. The best-F1 operating
point and the confusion matrix follow the definitions in detection_metrics.h.
Classification reference: sklearn.metrics.

Inputs use integer box coordinates and scores that are multiples of 1/1024 (or 1/8 for the tie
case), so float32 in C++ and float64 here hold the same values and the comparison can be tight.
"""
import json
import os

import numpy as np
from sklearn import metrics as skm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "metrics")

# COCOeval Params (setDetParams).
IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def bbox_iou(dt_xyxy, gt_xyxy):
    """[D,G] IoU as pycocotools' bbIou computes it, from xywh boxes in double precision."""
    d = np.asarray(dt_xyxy, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    dx, dy, dw, dh = d[:, 0], d[:, 1], d[:, 2] - d[:, 0], d[:, 3] - d[:, 1]
    gx, gy, gw, gh = g[:, 0], g[:, 1], g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    out = np.zeros((len(d), len(g)))
    for i in range(len(d)):
        for j in range(len(g)):
            w = min(dx[i] + dw[i], gx[j] + gw[j]) - max(dx[i], gx[j])
            if w <= 0:
                continue
            h = min(dy[i] + dh[i], gy[j] + gh[j]) - max(dy[i], gy[j])
            if h <= 0:
                continue
            inter = w * h
            out[i, j] = inter / (dw[i] * dh[i] + gw[j] * gh[j] - inter)
    return out


def evaluate_img(gts, dts, max_det):
    """COCOeval.evaluateImg for one (image, category): returns dtMatches [T,D] and dtScores."""
    if len(gts) == 0 and len(dts) == 0:
        return None
    scores = np.array([d[5] for d in dts], dtype=np.float64)
    dtind = np.argsort(-scores, kind="mergesort")
    dts = [dts[i] for i in dtind[0:max_det]]
    ious = bbox_iou([d[:4] for d in dts], [g[:4] for g in gts]) if len(dts) and len(gts) else []
    T, G, D = len(IOU_THRS), len(gts), len(dts)
    gtm = np.zeros((T, G))
    dtm = np.zeros((T, D))
    for tind, t in enumerate(IOU_THRS):
        for dind in range(D):
            iou = min([t, 1 - 1e-10])
            m = -1
            for gind in range(G):
                if gtm[tind, gind] > 0:
                    continue
                if ious[dind, gind] < iou:
                    continue
                iou = ious[dind, gind]
                m = gind
            if m == -1:
                continue
            dtm[tind, dind] = m + 1  # ground-truth ids start at 1
            gtm[tind, m] = dind + 1
    return {"dtMatches": dtm, "dtScores": [d[5] for d in dts], "numGt": G}


def best_f1(scores_sorted, tp, fp, npig):
    """Best F1 over thresholds between distinct scores; first (highest threshold) on ties."""
    nd = len(scores_sorted)
    if nd == 0:
        return {"score": -1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    ends = np.nonzero(np.append(scores_sorted[1:] != scores_sorted[:-1], True))[0]
    p = tp[ends] / (tp[ends] + fp[ends])
    r = tp[ends] / npig
    f1 = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    i = int(np.argmax(f1))
    return {"score": float(scores_sorted[ends[i]]), "precision": float(p[i]),
            "recall": float(r[i]), "f1": float(f1[i])}


def coco_eval(images, num_classes, max_det, agnostic):
    """COCOeval.evaluate + accumulate + summarize (bbox, area all, maxDets = max_det)."""
    if agnostic:
        images = [{"gt": [g[:4] + [0] for g in im["gt"]],
                   "dt": [d[:4] + [0, d[5]] for d in im["dt"]]} for im in images]
        num_classes = 1
    T, R, K = len(IOU_THRS), len(REC_THRS), num_classes
    precision = -np.ones((T, R, K))
    recall = -np.ones((T, K))
    f1_points = {}
    for k in range(K):
        E = [evaluate_img([g for g in im["gt"] if g[4] == k], [d for d in im["dt"] if d[4] == k],
                          max_det) for im in images]
        E = [e for e in E if e is not None]
        if not E:
            continue
        dt_scores = np.concatenate([e["dtScores"][0:max_det] for e in E]).astype(np.float64)
        inds = np.argsort(-dt_scores, kind="mergesort")
        dt_scores_sorted = dt_scores[inds]
        dtm = np.concatenate([e["dtMatches"][:, 0:max_det] for e in E], axis=1)[:, inds]
        npig = sum(e["numGt"] for e in E)
        if npig == 0:
            continue
        tps = dtm > 0
        fps = np.logical_not(dtm > 0)
        tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
        fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
        for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
            tp = np.array(tp)
            fp = np.array(fp)
            nd = len(tp)
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            q = np.zeros((R,))
            recall[t, k] = rc[-1] if nd else 0
            pr = pr.tolist()
            q = q.tolist()
            for i in range(nd - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            inds_r = np.searchsorted(rc, REC_THRS, side="left")
            try:
                for ri, pi in enumerate(inds_r):
                    q[ri] = pr[pi]
            except IndexError:
                pass
            precision[t, :, k] = np.array(q)
            f1_points[(t, k)] = best_f1(dt_scores_sorted, tp, fp, npig)

    def summarize(ap, iou_thr=None):
        if ap:
            s = precision if iou_thr is None else precision[[int(np.where(iou_thr == IOU_THRS)[0][0])]]
        else:
            s = recall
        s = s[s > -1]
        return -1.0 if len(s) == 0 else float(np.mean(s))

    out = {"AP": summarize(True), "AP50": summarize(True, IOU_THRS[0]),
           "AP75": summarize(True, IOU_THRS[5]), "AP90": summarize(True, IOU_THRS[8]),
           "AR100": summarize(False), "per_class": []}
    for k in range(K):
        has_gt = precision[0, 0, k] > -1
        c = {}
        for name, sel in (("AP", slice(None)), ("AP50", 0), ("AP75", 5), ("AP90", 8)):
            c[name] = float(np.mean(precision[sel, :, k])) if has_gt else -1.0
        c["AR100"] = float(np.mean(recall[:, k])) if has_gt else -1.0
        for tag, t in (("50", 0), ("75", 5)):
            p = f1_points.get((t, k), {"score": -1.0, "precision": -1.0, "recall": -1.0, "f1": -1.0})
            c["precision" + tag], c["recall" + tag] = p["precision"], p["recall"]
            c["f1_" + tag], c["score" + tag] = p["f1"], p["score"]
        out["per_class"].append(c)
    out["precision50_class0"] = [round(float(x), 12) for x in precision[0, :, 0]]
    return out, images, K


def confusion(images, K, score_thr, iou_thr):
    """Greedy class-agnostic matching by descending IoU (ties: score, detection, truth index)."""
    cm = np.zeros((K + 1, K + 1), dtype=np.int64)
    for im in images:
        gts, dts = im["gt"], im["dt"]
        keep = [i for i, d in enumerate(dts) if d[5] >= score_thr]
        ious = bbox_iou([dts[i][:4] for i in keep], [g[:4] for g in gts]) if keep and gts else None
        pairs = []
        for a, i in enumerate(keep):
            for j in range(len(gts)):
                if ious is not None and ious[a, j] >= iou_thr:
                    pairs.append((-ious[a, j], -dts[i][5], i, j))
        pairs.sort()
        used_d, used_g = set(), set()
        for _, _, i, j in pairs:
            if i in used_d or j in used_g:
                continue
            used_d.add(i)
            used_g.add(j)
            cm[gts[j][4], dts[i][4]] += 1
        for j, g in enumerate(gts):
            if j not in used_g:
                cm[g[4], K] += 1
        for i in keep:
            if i not in used_d:
                cm[K, dts[i][4]] += 1
    return cm.tolist()


def random_images(rng, n_images, K, score_den, max_gt=6, p_empty=0.15, gt_classes=None):
    gt_classes = gt_classes or K
    images = []
    for _ in range(n_images):
        gt, dt = [], []
        if rng.random() > p_empty:
            for _ in range(int(rng.integers(0, max_gt + 1))):
                x, y = int(rng.integers(0, 160)), int(rng.integers(0, 160))
                w, h = int(rng.integers(8, 40)), int(rng.integers(8, 40))
                gt.append([x, y, x + w, y + h, int(rng.integers(0, gt_classes))])
        score = lambda: float(rng.integers(1, score_den + 1)) / score_den
        for g in gt:
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):  # misses and duplicates
                a = int(rng.choice([0, 1, 2, 4]))  # exact copies up to sloppy boxes
                j = [int(rng.integers(-a, a + 1)) for _ in range(4)]
                box = [g[0] + j[0], g[1] + j[1], g[2] + j[2], g[3] + j[3]]
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue
                cls = g[4] if rng.random() < 0.8 else int(rng.integers(0, K))
                dt.append(box + [cls, score()])
        for _ in range(int(rng.integers(0, 4))):  # false positives
            x, y = int(rng.integers(0, 170)), int(rng.integers(0, 170))
            dt.append([x, y, x + int(rng.integers(6, 30)), y + int(rng.integers(6, 30)),
                       int(rng.integers(0, K)), score()])
        rng.shuffle(dt)
        images.append({"gt": gt, "dt": dt})
    return images


def detection_cases():
    rng = np.random.default_rng(20261125)
    specs = [
        ("random_3_classes", dict(n_images=8, K=3, score_den=1024), 100, False),
        ("score_ties", dict(n_images=8, K=2, score_den=8), 100, False),
        ("max_detections_3", dict(n_images=6, K=2, score_den=1024, max_gt=8), 3, False),
        ("class_agnostic", dict(n_images=7, K=3, score_den=16), 100, True),
        ("class_without_truth", dict(n_images=6, K=3, score_den=1024, gt_classes=2), 100, False),
    ]
    cases = []
    for name, spec, max_det, agnostic in specs:
        images = random_images(rng, **spec)
        expected, evaluated, K = coco_eval(images, spec["K"], max_det, agnostic)
        expected["confusion"] = confusion(evaluated, K, 0.5, 0.5)
        cases.append({"name": name, "num_classes": spec["K"], "max_detections": max_det,
                      "class_agnostic": agnostic, "confusion_score_threshold": 0.5,
                      "images": images, "expected": expected})
    return {"iou_thresholds": IOU_THRS.tolist(), "recall_thresholds": REC_THRS.tolist(),
            "cases": cases}


def classification_cases():
    rng = np.random.default_rng(7)
    cases = []
    for name, n, C, absent in (("random_7_classes", 60, 7, None), ("class_never_seen", 40, 6, 5)):
        truth = rng.integers(0, C, n)
        # Scores that favour the truth, so accuracy is neither 0 nor 1; distinct within a row,
        # because sklearn and we break ties differently (see classification_metrics.h).
        scores = np.zeros((n, C))
        for i in range(n):
            while True:
                row = rng.integers(0, 1024, C)
                row[truth[i]] += int(rng.integers(0, 600))
                if len(np.unique(row)) == C:
                    break
            scores[i] = row / 1024
        if absent is not None:  # a class that is neither true nor predicted
            truth[truth == absent] = 0
            scores[:, absent] = -1.0
        pred = np.argmax(scores, axis=1)
        labels = list(range(C))
        p, r, f, s = skm.precision_recall_fscore_support(truth, pred, labels=labels,
                                                         zero_division=0)
        expected = {
            "accuracy": skm.accuracy_score(truth, pred),
            "top5": skm.top_k_accuracy_score(truth, scores, k=5, labels=labels),
            "macro_f1": skm.f1_score(truth, pred, average="macro", zero_division=0),
            "weighted_f1": skm.f1_score(truth, pred, average="weighted", zero_division=0),
            "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(),
            "support": s.tolist(),
            "confusion": skm.confusion_matrix(truth, pred, labels=labels).tolist(),
        }
        cases.append({"name": name, "num_classes": C, "truth": truth.tolist(),
                      "scores": scores.tolist(), "expected": expected})
    return {"cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in (("detection_cases.json", detection_cases()),
                       ("classification_cases.json", classification_cases())):
        path = os.path.join(OUT, name)
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
