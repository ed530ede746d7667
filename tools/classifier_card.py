#!/usr/bin/env python3
"""Writes a classifier model card (README.md) from the model folder and a C++ evaluation.

    python3 tools/classifier_card.py --model models/classifier --eval EVAL.json \
        --eval-command "marrowscope eval-classifier ..." --notes NOTES.md > models/classifier/README.md

model.json gives the architecture, classes, normalisation and provenance; EVAL.json is the output
of `marrowscope eval-classifier --json` (keys: accuracy, top5, macro_f1, weighted_f1, per_class,
classes, confusion, cells_per_second). NOTES.md (optional) is inserted verbatim after the summary:
the how-and-why that no file records. Plain python3, no third-party modules.
"""
import argparse
import json
import os

REQUIRED_F1 = ["lymphocyte", "eosinophil", "erythroblast", "segmented_neutrophil", "platelet"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--eval-command", required=True)
    ap.add_argument("--notes", default="")
    a = ap.parse_args()
    info = json.load(open(os.path.join(a.model, "model.json")))
    ev = json.load(open(a.eval))
    m, prov = info["model"], info.get("provenance", {})
    classes = ev["classes"]
    size = os.path.getsize(os.path.join(a.model, "model.pt")) / 1e6
    out = []
    w = out.append
    arch = m["arch"]
    desc = ("ResNet-%d (width %g) CNN" % (m["cnn"]["backbone"]["depth"], m["cnn"]["backbone"]["width"])
            if arch == "cnn" else "Vision Transformer (dim %d, depth %d)" % (m["vit"]["patch"]["dim"], m["vit"]["depth"]))
    w("# Shipped cell classifier: %s, PBC %d classes\n" % (desc, len(classes)))
    w("Version `%s`. Validation (1,302 held-out cells of `../shared/data/pbc`, stratified 80/20 split, "
      "seed 42; the lists are in `split/`): **accuracy %.4f**, macro-F1 %.4f, top-5 %.4f, measured by the "
      "C++ inference path:\n" % (info["version"], ev["accuracy"], ev["macro_f1"], ev["top5"]))
    w("```sh\n%s\n```\n" % a.eval_command)
    f1s = {c: ev["per_class"][c]["f1"] for c in classes}
    req = ", ".join("%s %.3f" % (c, f1s[c]) for c in REQUIRED_F1 if c in f1s)
    w("Acceptance bars: accuracy >= 0.90 -> %s; F1 >= 0.95 for the five named classes -> %s (%s).\n" % (
        "met" if ev["accuracy"] >= 0.90 else "NOT met",
        "met" if all(f1s.get(c, 0) >= 0.95 for c in REQUIRED_F1) else "NOT met", req))
    if a.notes:
        w(open(a.notes).read().rstrip() + "\n")
    w("## Model\n")
    w("- Architecture `%s`: %s; input %d x %d px, the centre %d px of the cell resized to %d px "
      "(crop fraction %.4f). %.1f MB (`model.pt`)." % (arch, desc, m["input_size"], m["input_size"], m["input_size"],
                                                       round(m["input_size"] / info["crop_fraction"]),
                                                       info["crop_fraction"], size))
    n = info["normalization"]
    w("- Normalisation (RGB in [0,1]): mean [%s], std [%s]." % (", ".join("%.4f" % v for v in n["mean"]),
                                                                ", ".join("%.4f" % v for v in n["std"])))
    w("- Files: `model.pt` (parameters and buffers, LibTorch archive), `model.json` (architecture, classes, "
      "normalisation, provenance). Loaded by `ClassifierPredictor::load(\"models/classifier\")`.")
    views = info.get("test_time_views", 1)
    w("- Test-time views: %d (%s)." % (views, "the crop only" if views == 1 else
                                        "softmax averaged over the crop's dihedral orientations; "
                                        "`--views 1` turns it off"))
    w("- Classes (id order): %s.\n" % ", ".join("`%s`" % c for c in classes))
    w("## Provenance\n")
    for k in sorted(prov):
        v = prov[k]
        if isinstance(v, dict):
            v = ", ".join("%s=%s" % (kk, vv) for kk, vv in sorted(v.items()))
        w("- %s: %s" % (k, v))
    w("")
    w("## Validation metrics per class\n")
    w("| class | precision | recall | F1 | support |")
    w("|---|---|---|---|---|")
    for c in classes:
        p = ev["per_class"][c]
        w("| %s | %.3f | %.3f | %.3f | %d |" % (c, p["precision"], p["recall"], p["f1"], p["support"]))
    w("\nConfusion matrix (rows = truth, columns = predicted, same class order):\n")
    w("| truth \\ pred | " + " | ".join(c[:6] for c in classes) + " |")
    w("|---" * (len(classes) + 1) + "|")
    for c, row in zip(classes, ev["confusion"]):
        w("| %s | " % c + " | ".join(str(v) for v in row) + " |")
    w("\nSpeed during this evaluation: %.1f cells/s (batch evaluation, see docs/RESULTS.md for the "
      "machine and load).\n" % ev["cells_per_second"])
    print("\n".join(out))


if __name__ == "__main__":
    main()
