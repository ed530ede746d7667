#!/usr/bin/env bash
# The open-set measurement by retraining: for each left-out class, a classifier trained from scratch
# on the shipped model's training cells WITHOUT that class (C++ trainer, this CPU, reduced budget),
# its atypical reference fitted on the same cells (calibration: the known classes' held-out cells),
# then every held-out cell of split/val.txt classified through the product path (`marrowscope
# classify --json`, which gives the atypical score). The left-out class's held-out cells are the
# unknown ones: a network that never saw them must flag them, not name their nearest look-alike.
# tools/summarise_open_set.py OUT_DIR turns the runs into the table (AUROC, share flagged).
#
# The trainer's own validation is 20% of the training list (data.val_fraction), so the held-out
# cells scored here are never used for training or for choosing the epoch.
# Re-running continues: a finished class (its scores.json written) is skipped, an unfinished
# training resumes from its newest epoch checkpoint.
#
#   tools/open_set_cpu.sh OUT_DIR [CLASS...]   (default: every class, the blast look-alikes first)
#
# Environment: MARROWSCOPE_BIN (build/marrowscope), DATA (../shared/data/pbc), SPLIT
# (models/classifier/split), CONFIG (configs/classifier/cnn_resnet18.json), EPOCHS (30), THREADS (1),
# SET (more config overrides, space-separated key=value: a smoke test's max_steps_per_epoch=2).
set -euo pipefail
out=${1:?usage: tools/open_set_cpu.sh OUT_DIR [CLASS...]}
shift
classes=("$@")
[ ${#classes[@]} -gt 0 ] || classes=(promyelocyte myelocyte monocyte lymphocyte basophil metamyelocyte
                                     eosinophil erythroblast band_neutrophil segmented_neutrophil platelet)
bin=${MARROWSCOPE_BIN:-build/marrowscope}
data=$(realpath "${DATA:-../shared/data/pbc}")
split=${SPLIT:-models/classifier/split}
config=${CONFIG:-configs/classifier/cnn_resnet18.json}
epochs=${EPOCHS:-30}
threads=${THREADS:-1}
sets=(--set "optim.epochs=$epochs")
for kv in ${SET:-}; do sets+=(--set "$kv"); done
mkdir -p "$out"
printf 'config=%s epochs=%s threads=%s data=%s split=%s set=%s\n' "$config" "$epochs" "$threads" "$data" "$split" \
  "${SET:-}" \
  >"$out/budget.txt"
for left in "${classes[@]}"; do
  grep -q "^$left	" "$split/train.txt" || { echo "no class '$left' in $split/train.txt" >&2; exit 2; }
  run="$out/without-$left"
  if [ -f "$run/scores.json" ]; then continue; fi
  mkdir -p "$run"
  # Cell lists without the left-out class, and a folder-per-class tree of the training cells.
  grep -v "^$left	" "$split/train.txt" >"$run/fit.txt"
  grep -v "^$left	" "$split/val.txt" >"$run/calibration.txt"
  if [ ! -d "$run/tree" ]; then
    rm -rf "$run/tree.tmp"
    for c in $(cut -f1 "$run/fit.txt" | sort -u); do mkdir -p "$run/tree.tmp/$c"; done
    while IFS=$'\t' read -r c p; do ln -s "$data/$p" "$run/tree.tmp/$c/"; done <"$run/fit.txt"
    mv "$run/tree.tmp" "$run/tree"
  fi
  if [ ! -f "$run/trained" ]; then
    resume=()
    if compgen -G "$run/train/checkpoints/epoch_*" >/dev/null; then resume=(--resume); fi
    echo "$(date -u +%FT%TZ) without $left ${resume[*]}"
    MARROWSCOPE_THREADS=$threads "$bin" train-classifier --config "$config" --data "$run/tree" \
      --out "$run/train" "${resume[@]}" "${sets[@]}" >>"$run/train.log" 2>&1
    touch "$run/trained"
  fi
  MARROWSCOPE_THREADS=$threads "$bin" fit-atypical --model "$run/train/model" --data "$data" \
    --fit "$run/fit.txt" --calibration "$run/calibration.txt" >>"$run/train.log" 2>&1
  cut -f2 "$split/val.txt" | sed "s|^|$data/|" | tr '\n' '\0' |
    MARROWSCOPE_THREADS=$threads xargs -0 "$bin" classify --model "$run/train/model" --json --top 1 \
      >"$run/scores.tmp.json"
  mv "$run/scores.tmp.json" "$run/scores.json"
done
