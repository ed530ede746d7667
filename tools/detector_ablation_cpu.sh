#!/usr/bin/env bash
# The detector ablation with several seeds per row, on this CPU at a reduced budget, with the C++
# trainer: each config of configs/detector/ (structure rows and each assigner on the full
# structure) once per seed, seed-major so that every row has one seed before any has two.
# Re-running continues: a finished run (model/ written after its last epoch) is skipped and an
# unfinished one resumes from its newest epoch checkpoint.
#
#   tools/detector_ablation_cpu.sh OUT_DIR [SEEDS...]        (default seeds: 1 2 3)
#
# Environment: MARROWSCOPE_BIN (build/marrowscope), DATA (../shared/data/txl-pbc), INPUT (256),
# EPOCHS (12), THREADS (1), CONFIGS (the rows to train, space-separated; default every row). The budget is written to OUT_DIR/budget.txt so the table says which.
# tools/summarise_detector_ablation.py OUT_DIR turns the runs into the table (mean and spread).
set -euo pipefail
out=${1:?usage: tools/detector_ablation_cpu.sh OUT_DIR [SEEDS...]}
shift
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
bin=${MARROWSCOPE_BIN:-build/marrowscope}
data=${DATA:-../shared/data/txl-pbc}
input=${INPUT:-256}
epochs=${EPOCHS:-12}
threads=${THREADS:-1}
read -r -a configs <<<"${CONFIGS:-baseline pa iou pa_iou pa_iou_atss pa_iou_ota pa_iou_paa}"
mkdir -p "$out"
printf 'input_size=%s epochs=%s threads=%s data=%s\n' "$input" "$epochs" "$threads" "$data" >"$out/budget.txt"
for seed in "${seeds[@]}"; do
  for cfg in "${configs[@]}"; do
    run="$out/$cfg-s$seed"
    if [ -f "$run/done" ]; then continue; fi
    resume=()
    if compgen -G "$run/checkpoints/epoch_*" >/dev/null; then resume=(--resume); fi
    echo "$(date -u +%FT%TZ) $cfg seed $seed ${resume[*]}"
    MARROWSCOPE_THREADS=$threads "$bin" train-detector --config "configs/detector/$cfg.json" --data "$data" \
      --out "$run" "${resume[@]}" --set "model.input_size=$input" --set "optim.epochs=$epochs" \
      --set "seed=$seed" --set log_every=50 >>"$run.log" 2>&1
    touch "$run/done"
  done
done
