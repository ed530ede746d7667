#!/usr/bin/python3
"""Golden files for the OTA assigner (tests/unit/models/assign/ota_assigner_test.cpp).

Independent of the C++ code: NumPy in float64 with the multiplicative (not log-domain) Sinkhorn-Knopp
iteration of Cuturi 2013, and SciPy's exact linear_sum_assignment as a second solver for the
limit of small epsilon. Run with Debian's /usr/bin/python3 (numpy, scipy):

    /usr/bin/python3 tools/gen_sinkhorn_golden.py tests/golden/assign/sinkhorn.json
"""
import json
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment


def sinkhorn_plain(cost, mu, nu, eps, iters):
    """Plan = diag(a) K diag(b) with K = exp(-C/eps); b updated first, as the OTA authors do."""
    K = np.exp(-cost / eps)
    a = np.ones_like(mu)
    b = np.ones_like(nu)
    for _ in range(iters):
        b = nu / (K.T @ a)
        a = mu / (K @ b)
    return a[:, None] * K * b[None, :]


def focal_cost(logits, labels, alpha=0.25, gamma=2.0):
    """Sum over classes of the sigmoid focal loss, target one-hot(label) or all-zero (last row)."""
    p = 1.0 / (1.0 + np.exp(-logits))
    neg = -(1 - alpha) * p**gamma * np.log(1 - p)
    pos = -alpha * (1 - p) ** gamma * np.log(p)
    rows = []
    for c in labels:
        t = neg.copy()
        t[:, c] = pos[:, c]
        rows.append(t.sum(1))
    rows.append(neg.sum(1))
    return np.array(rows)


def giou(a, b):
    """Pairwise GIoU of a [G,4] and b [N,4] xyxy, written out box by box."""
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            cw = max(p[2], q[2]) - min(p[0], q[0])
            ch = max(p[3], q[3]) - min(p[1], q[1])
            out[i, j] = inter / union - (cw * ch - union) / (cw * ch)
    return out


def main(path):
    rng = np.random.default_rng(20210613)
    cases = []
    # Plain Sinkhorn on random costs, entropic regime (eps comparable to the cost spread).
    for m, n in [(2, 5), (3, 8), (4, 12)]:
        cost = rng.uniform(0.0, 3.0, size=(m, n))
        k = rng.integers(1, 3, size=m - 1).astype(float)
        mu = np.concatenate([k, [n - k.sum()]])
        nu = np.ones(n)
        plan = sinkhorn_plain(cost, mu, nu, 0.5, 50)
        cases.append({"kind": "sinkhorn", "cost": cost.tolist(), "supply": mu.tolist(),
                      "demand": nu.tolist(), "epsilon": 0.5, "iterations": 50,
                      "plan": plan.tolist()})
    # Small epsilon: the argmax of the plan must equal the exact optimal assignment. Suppliers
    # with integer supply are expanded into that many identical rows for the Hungarian solver.
    for m, n in [(3, 6), (4, 9), (3, 10)]:
        cost = rng.uniform(0.0, 1.0, size=(m, n))
        k = rng.integers(1, 3, size=m - 1)
        mu = np.concatenate([k, [n - k.sum()]]).astype(float)
        rows = np.repeat(np.arange(m), mu.astype(int))
        r, c = linear_sum_assignment(cost[rows])
        exact = np.empty(n, dtype=int)
        exact[c] = rows[r]
        cases.append({"kind": "exact", "cost": cost.tolist(), "supply": mu.tolist(),
                      "demand": np.ones(n).tolist(), "epsilon": 0.01, "iterations": 2000,
                      "assignment": exact.tolist(),
                      "optimal_cost": float(cost[rows[r], c].sum())})
    # OTA cost matrix: focal classification cost + lambda * (1 - GIoU) + outside penalty.
    logits = rng.normal(0.0, 2.0, size=(6, 3))
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 34], [2, 1, 9, 12],
                      [18, 22, 31, 30], [40, 40, 50, 50]], dtype=float)
    gt = np.array([[1, 1, 11, 11], [19, 21, 30, 33]], dtype=float)
    labels = [2, 0]
    prior = np.array([[1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 1]], dtype=bool)
    reg_weight, outside = 3.0, 1e5
    cost = focal_cost(logits, labels)
    cost[:-1] += reg_weight * (1.0 - giou(gt, boxes)) + outside * (~prior)
    cases.append({"kind": "ota_cost", "cls_logits": logits.tolist(), "pred_boxes": boxes.tolist(),
                  "gt_boxes": gt.tolist(), "gt_labels": labels, "prior_ok": prior.astype(int).tolist(),
                  "reg_weight": reg_weight, "outside_cost": outside, "cost": cost.tolist()})
    with open(path, "w") as f:
        json.dump({"generator": "tools/gen_sinkhorn_golden.py", "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/assign/sinkhorn.json")
