#!/bin/bash
# One lent-GPU call for the detector and classifier training runs, everything side by side on one
# GPU (each run is small and leaves the GPU mostly idle alone):
#   - two shipped-detector candidates (configs/detector/shipped_v2.json at 384 and 448 px), each
#     with `--epochs auto` (epoch count and cosine length chosen after warm-up to fit LIMIT);
#   - the detector ablation (thesis tables 4.4/4.5) at 320 px, the same fixed epochs for
#     every config: baseline, +PA, +IoU, PA+IoU (MaxIoU), PA+IoU with ATSS, OTA or PAA;
#   - the classifier ablation (thesis tables 5.3/5.5/5.6) at 96 px, the same epochs for
#     ViT baseline, +overlap, +part selection, +contrastive, and the CNN.
# Every run stops itself before LIMIT seconds and still writes weights.npz/summary.json
# ("cut_short" records a run that did not finish its epochs); `timeout` is only a safety net.
# Needs (git-ignored, carried): .gpu/txl448 (tools/gpu/make_txl_pack.py) and .gpu/pbc104
# (tools/gpu/make_pbc_cache.py --side 104 --quality 76 --optimize). Results come back as at most
# six tar files under $OUT (the device returns at most 8 files of <= 16 MB).
# DRY=1 runs the same orchestration on a few fields/cells for one epoch (CPU check here).
set -u
export PYTHONUNBUFFERED=1
LIMIT=${LIMIT:-420}
ABL_EPOCHS=${ABL_EPOCHS:-24}
CLS_EPOCHS=${CLS_EPOCHS:-100}
R=${WORK:-/tmp/msgpu}
rm -rf "$R"; mkdir -p "$R/det" "$R/cls" "$R/logs"
(nvidia-smi -L; nproc; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())") 2>&1 | tee "$R/logs/machine.txt"
DET_EXTRA="--threads 1"; CLS_EXTRA="--threads 1"
if [ "${DRY:-0}" = 1 ]; then
  DET_EXTRA="$DET_EXTRA --max-train 8 --max-val 4 --device cpu"; CLS_EXTRA="$CLS_EXTRA --limit 44 --device cpu"
  ABL_EPOCHS=1; CLS_EPOCHS=1
fi
det() {  # name config input_size epochs save_dtype
  timeout $((LIMIT + 45)) python3 tools/gpu/train_detector.py --pack .gpu/txl448 --config "configs/detector/$2.json" \
    --out "$R/det/$1" --input-size "$3" --epochs "$4" --time-limit "$LIMIT" --save-dtype "$5" $DET_EXTRA \
    > "$R/logs/det_$1.log" 2>&1
  echo "det $1 exit $?" >> "$R/logs/exits.txt"
}
cls() {  # config
  timeout $((LIMIT + 45)) python3 tools/gpu/train_vit_classifier.py --config "configs/classifier/ablation/$1.json" \
    --pack .gpu/pbc104 --out "$R/cls/$1" --epochs "$CLS_EPOCHS" --time-limit "$LIMIT" --save-dtype float16 $CLS_EXTRA \
    > "$R/logs/cls_$1.log" 2>&1
  echo "cls $1 exit $?" >> "$R/logs/exits.txt"
}
SHIP_EPOCHS=auto; [ "${DRY:-0}" = 1 ] && SHIP_EPOCHS=1
det ship384 shipped_v2 384 $SHIP_EPOCHS float32 &
det ship448 shipped_v2 448 $SHIP_EPOCHS float32 &
for c in baseline pa iou pa_iou pa_iou_atss pa_iou_ota pa_iou_paa; do det "abl_$c" "$c" 320 "$ABL_EPOCHS" float16 & done
for c in vit_baseline vit_overlap vit_part_selection vit_contrastive cnn_resnet18; do cls "$c" & done
wait
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$R/logs/machine.txt" 2>&1
cat "$R/logs/exits.txt"
# Package: shipped candidates with their weights; ablation detectors without (their metrics are
# the mirror's evaluator, checked against the C++ one); classifier weights split over two files.
cd "$R"
tar cf "$OUT/ship384.tar" det/ship384
tar cf "$OUT/ship448.tar" det/ship448
tar cf "$OUT/det_ablation.tar" --exclude=weights.npz det/abl_*
tar cf "$OUT/cls_a.tar" cls/vit_contrastive cls/cnn_resnet18 $(ls -d cls/*/summary.json cls/*/metrics.jsonl 2>/dev/null)
tar cf "$OUT/cls_b.tar" cls/vit_baseline cls/vit_overlap cls/vit_part_selection
tar czf "$OUT/logs.tar.gz" logs
ls -la "$OUT"
for f in det/*/summary.json; do python3 - "$f" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1])); v = s.get("val") or s.get("final_val") or {}
w = (v.get("per_class") or {}).get("WBC", {})
print(sys.argv[1], "epochs", s.get("epochs_done"), "cut", s.get("cut_short"),
      "WBC AP %.4f AP50 %.4f AP75 %.4f" % (w.get("AP", -1), w.get("AP50", -1), w.get("AP75", -1)))
EOF
done
for f in cls/*/summary.json; do python3 - "$f" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(sys.argv[1], {k: s[k] for k in s if k in ("epochs_done", "cut_short", "val_accuracy", "val_macro_f1", "accuracy", "macro_f1")})
EOF
done
