"""Writes a C++ model folder (model.pt + model.json, plus the GPU run's gpu_summary.json and
gpu_metrics.jsonl) atomically: everything goes into a temporary folder beside OUT, which then
replaces OUT, so a failed import never leaves a half-written model. Shared by the importers."""
import json
import os
import shutil
import tempfile


def write_model_folder(out, module, info, run_dir):
    """module: the TorchScript archive (torch.jit) with the new weights; info: model.json's dict."""
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent)
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a model folder is shared
        module.save(os.path.join(tmp, "model.pt"))
        with open(os.path.join(tmp, "model.json"), "w") as f:
            json.dump(info, f, indent=1)
            f.write("\n")
        for extra_file in ("summary.json", "metrics.jsonl"):
            if os.path.exists(os.path.join(run_dir, extra_file)):
                shutil.copy(os.path.join(run_dir, extra_file), os.path.join(tmp, "gpu_" + extra_file))
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
