"""Shared by the tools that re-evaluate the GPU sweep's CNN runs on CPU (ensemble_eval.py,
neutrophil_resolution_probe.py): loading a run folder written by train_cnn_classifier.py, and the
eight dihedral views in the order of the C++ models/classifier/test_time_views.h."""
import json
import os

import numpy as np
import torch

from train_cnn_classifier import CnnClassifier

# View v of x [B,C,S,S]: identity, left-right flip, up-down flip, rotation by 180, transpose,
# rotation by 90, rotation by 270, anti-transpose. Each prefix of length 1, 2, 4, 8 is a group.
VIEWS = [lambda x: x, lambda x: x.flip(3), lambda x: x.flip(2), lambda x: x.flip(2, 3),
         lambda x: x.transpose(2, 3), lambda x: x.transpose(2, 3).flip(3),
         lambda x: x.transpose(2, 3).flip(2), lambda x: x.transpose(2, 3).flip(2, 3)]


def load_run(run):
    """RUN (weights.npz + summary.json) -> (summary, CnnClassifier with the run's weights)."""
    s = json.load(open(os.path.join(run, "summary.json")))
    model = CnnClassifier(s["args"]["width"], len(s["classes"]), s["args"]["dropout"])
    w = np.load(os.path.join(run, "weights.npz"))
    model.load_state_dict({k: torch.from_numpy(w[k]) for k in w.files})
    return s, model


def normalisation(summary):
    """The run's RGB mean and std as [1,3,1,1] tensors."""
    n = summary["normalization"]
    return torch.tensor(n["mean"]).view(1, 3, 1, 1), torch.tensor(n["std"]).view(1, 3, 1, 1)
