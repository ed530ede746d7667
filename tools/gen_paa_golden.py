#!/usr/bin/python3
"""Golden file for the PAA assigner (tests/unit/models/assign/paa_assigner_test.cpp).

Independent of the C++ code: the Gaussian mixture is scikit-learn's GaussianMixture called exactly
as the PAA authors call it (kkhoot/PAA, paa_core/modeling/rpn/paa/loss.py: two components, weights
(0.5, 0.5), means (min, max), precisions 1, defaults otherwise); the separation is the authors'
Fig. 3(c) code on the sorted losses; the anchor losses are NumPy float64 (sigmoid focal loss summed
over classes against the one-hot class, plus lambda * (1 - GIoU)). Run with Debian's /usr/bin/python3
(numpy, python3-sklearn):

    /usr/bin/python3 tools/gen_paa_golden.py tests/golden/assign/paa.json
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture


def fit(losses):
    x = np.asarray(losses, dtype=np.float64).reshape(-1, 1)
    gmm = GaussianMixture(2, weights_init=[0.5, 0.5], means_init=[[x.min()], [x.max()]],
                          precisions_init=[[[1.0]], [[1.0]]])
    gmm.fit(x)
    return gmm


def authors_separation(losses):
    """The authors' code for one box with more than one candidate: positions (into losses) of the
    positives."""
    order = np.argsort(losses, kind="stable")
    x = np.asarray(losses, dtype=np.float64)[order].reshape(-1, 1)
    gmm = fit(x.ravel())
    comp = gmm.predict(x)
    scores = gmm.score_samples(x)
    fgs = comp == 0
    if not fgs.any():
        return sorted(order.tolist())
    fg_max = scores[fgs].max()
    fg_max_idx = int(np.nonzero(fgs & (scores == fg_max))[0].min())
    return sorted(order[:fg_max_idx + 1].tolist())


def focal_sum(logits, label, alpha=0.25, gamma=2.0):
    p = 1.0 / (1.0 + np.exp(-logits))
    t = np.zeros_like(logits)
    t[label] = 1.0
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    a_t = alpha * t + (1 - alpha) * (1 - t)
    return float((a_t * (1 - p_t) ** gamma * ce).sum())


def giou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    enclose = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union - (enclose - union) / enclose


def main():
    out_path = sys.argv[1]
    rng = np.random.default_rng(20)
    cases = []
    # Overlapping and separated loss sets of the sizes a box gets (top-9 on 1-5 levels).
    sets = [
        np.concatenate([rng.normal(0.4, 0.15, 4), rng.normal(1.6, 0.3, 8)]),
        np.concatenate([rng.normal(0.8, 0.3, 9), rng.normal(1.4, 0.3, 9)]),
        rng.uniform(0.2, 2.5, 27),
        np.concatenate([rng.normal(0.3, 0.05, 3), rng.normal(2.0, 0.6, 33)]),
        np.array([1.3, 0.2]),
        np.array([0.5, 0.52, 0.51, 3.0]),
    ]
    for s in sets:
        s = [float(v) for v in s]
        gmm = fit(s)
        x = np.asarray(s).reshape(-1, 1)
        pos = authors_separation(s)
        cases.append({
            "kind": "gmm", "losses": s,
            "weights": gmm.weights_.tolist(), "means": gmm.means_.ravel().tolist(),
            "variances": gmm.covariances_.ravel().tolist(), "iterations": int(gmm.n_iter_),
            "converged": bool(gmm.converged_), "components": gmm.predict(x).tolist(),
            "log_density": gmm.score_samples(x).tolist(),
            "positive": [i in pos for i in range(len(s))],
        })
    # Anchor losses: random logits (3 classes), predicted boxes near / away from their boxes.
    n = 7
    logits = rng.normal(0, 2.5, (n, 3))
    gt = np.array([[10, 10, 40, 50], [60, 20, 90, 44]], dtype=np.float64)
    gt_idx = rng.integers(0, 2, n)
    labels = np.array([2, 0])
    pred = gt[gt_idx] + rng.normal(0, 6, (n, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 2)
    reg_weight = 1.3
    want = [focal_sum(logits[i], labels[gt_idx[i]]) + reg_weight * (1 - giou(pred[i], gt[gt_idx[i]]))
            for i in range(n)]
    cases.append({"kind": "anchor_loss", "cls_logits": logits.tolist(), "pred_boxes": pred.tolist(),
                  "gt_boxes": gt[gt_idx].tolist(), "gt_labels": labels[gt_idx].tolist(),
                  "reg_weight": reg_weight, "loss": want})
    with open(out_path, "w") as f:
        json.dump({"generator": "tools/gen_paa_golden.py", "sklearn": sklearn.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
