#!/bin/bash
# One lent-GPU call: three CNN classifier runs side by side on one GPU (the model is small, so one
# run leaves the GPU mostly idle). Outputs under $OUT/{a,b,c}. See docs/RESULTS.md for the commands
# that import and evaluate the result with the C++ code.
set -u
export PYTHONUNBUFFERED=1
nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__)"
T=tools/gpu/train_cnn_classifier.py
P=${PACK:-.gpu/pbc146}
timeout ${LIMIT:-470} python3 $T --pack $P --out $OUT/a --epochs 250 --seed 1 &
timeout ${LIMIT:-470} python3 $T --pack $P --out $OUT/b --epochs 400 --seed 2 &
timeout ${LIMIT:-470} python3 $T --pack $P --out $OUT/c --epochs 250 --seed 3 --rotate 180 --scale 1.2 &
wait
rm -f $OUT/c/metrics.jsonl
ls -la $OUT/*
