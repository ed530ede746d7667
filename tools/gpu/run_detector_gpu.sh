#!/bin/bash
# One lent-GPU call for the detector (issue 3): the ablation of thesis tables 4.4/4.5 under one equal
# budget (ABL_EPOCHS epochs each, the configs' 320 px / batch 8 / lr 0.01) and a shipped candidate
# (shipped_v2.json at SHIP_SIZE px, epochs chosen to fill the time), all side by side on one GPU
# (the 3 M-parameter model leaves one run launch-bound). Needs the pack (carry .gpu/txl448):
#   /usr/bin/python3 tools/gpu/make_txl_pack.py --data ../shared/data/txl-pbc --side 448 --quality 75 --out .gpu/txl448
# Every run stops and writes its files before LIMIT seconds; a run that hit the limit says
# "cut_short": true in its summary.json. The device returns at most 8 files of 16 MiB, so each run
# folder comes back as one tar (ablation weights in float16, the shipped candidate's in float32)
# plus $OUT/detector_runs.txt with every final validation line. Import and C++ evaluation: see
# tools/gpu/import_detector_weights.py (docs/RESULTS.md has the commands).
set -u
export PYTHONUNBUFFERED=1
nvidia-smi -L; python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__)"
T=tools/gpu/train_detector.py
P=${PACK:-.gpu/txl448}
LIMIT=${LIMIT:-480}
E=${ABL_EPOCHS:-40}
SHIP_SIZE=${SHIP_SIZE:-448}
run() {  # name, then train_detector.py options
  local name=$1; shift
  mkdir -p $OUT/$name
  timeout $((LIMIT + 60)) python3 $T --pack $P --out $OUT/$name --time-limit $LIMIT --threads 2 "$@" \
    > $OUT/$name/train.log 2>&1
  echo "rc $? $name" >> $OUT/$name/train.log
}
for c in baseline pa iou pa_iou pa_iou_atss pa_iou_ota; do
  run abl-$c --config configs/detector/$c.json --epochs $E --save-dtype float16 &
done
run ship --config configs/detector/shipped_v2.json --input-size $SHIP_SIZE --epochs auto --eval-every 10 &
wait
for d in $OUT/abl-* $OUT/ship; do
  n=$(basename $d)
  { echo "== $n"; grep -E "^(epochs auto|final validation|  (WBC|RBC|Platelet)|rc )" $d/train.log; tail -n 3 $d/train.log; } >> $OUT/detector_runs.txt
  tar -C $OUT -cf $OUT/$n.tar $n && rm -rf $d
done
cat $OUT/detector_runs.txt
ls -la $OUT
