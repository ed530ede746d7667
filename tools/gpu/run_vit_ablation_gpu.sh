#!/bin/bash
# One lent-GPU call: the issue 4 ablation (configs/classifier/ablation/*.json: ViT baseline,
# + overlapping patches, + part selection, + contrastive loss, and the CNN baseline), all five
# side by side on one GPU with the same epochs and the same wall-clock limit. Each run stops
# itself before LIMIT seconds and still writes weights.npz/summary.json ("cut_short" says whether
# it finished its epochs). Outputs under $OUT/<config>. Needs the pack from
#   /usr/bin/python3 tools/gpu/make_pbc_cache.py --data ../shared/data/pbc --side 104 --quality 76 \
#       --optimize --split-dir models/classifier/split --out .gpu/pbc104
# carried as .gpu/pbc104. Afterwards, here: tools/gpu/import_classifier_weights.py --run OUT/<config>
# ... and build/marrowscope eval-classifier on the imported folder (docs/RESULTS.md).
set -u
export PYTHONUNBUFFERED=1
nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__)"
P=${PACK:-.gpu/pbc104}
LIMIT=${LIMIT:-420}
EPOCHS=${EPOCHS:-100}
for c in vit_baseline vit_overlap vit_part_selection vit_contrastive cnn_resnet18; do
  # timeout is only a safety net: --time-limit ends each run (files written) before it.
  timeout $((LIMIT + 40)) python3 tools/gpu/train_vit_classifier.py --config configs/classifier/ablation/$c.json \
    --pack $P --out $OUT/$c --epochs $EPOCHS --time-limit $LIMIT --save-dtype float16 > $OUT/$c.log 2>&1 &
done
wait
for c in vit_baseline vit_overlap vit_part_selection vit_contrastive cnn_resnet18; do echo "== $c"; tail -3 $OUT/$c.log; done
