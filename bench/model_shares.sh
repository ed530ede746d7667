#!/usr/bin/env bash
# The shipped models' forward passes as a share of this CPU's peak, in one sitting: the peak FMA
# rates (bench_fma_peak), each model's compute per input (tools/gpu/*_cost.py: 2 x multiply-adds of
# its convolutions and matrix products), and its forward-only rate from the C++ benches (the
# detector on one 384 px input, the classifier on batches of 32 cells), in fp32 and bf16, on 1 and
# 2 threads. Achieved GFLOP/s = GFLOP per input x inputs/s; shares are against the fp32 FMA peak
# and, for bf16, also against the bf16 dot-product peak of the same thread count.
#
#   cmake --build build --target bench_fma_peak bench_detector_forward bench_classifier_speed
#   bench/model_shares.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench_fma_peak bench_detector_forward bench_classifier_speed; do
  [ -x "build/$b" ] || { echo "model_shares: no build/$b" >&2; exit 1; }
done
det_gflop=$(/usr/bin/python3 tools/gpu/detector_cost.py models/detector | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["gflops"])')
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 tools/gpu/classifier_cost.py models/classifier/model.json --json "$tmp" >/dev/null
cls_gflop=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["gflops"])' "$tmp")

peak=$(build/bench_fma_peak)
fp32_1=$(awk '/^fp32 FMA/ {print $(NF-2)}' <<<"$peak")
fp32_2=$(awk '/^fp32 FMA/ {print $(NF-1)}' <<<"$peak")
bf16_1=$(awk '/^bf16 dot/ {print $(NF-2)}' <<<"$peak")
bf16_2=$(awk '/^bf16 dot/ {print $(NF-1)}' <<<"$peak")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peak GFLOP/s: fp32 FMA $fp32_1 (1 thread) / $fp32_2 (2 threads); bf16 dot $bf16_1 / $bf16_2"
echo "compute: detector $det_gflop GFLOP per 384 px field; classifier $cls_gflop GFLOP per 144 px cell"
printf '%-34s %-5s %7s %12s %10s %12s %12s\n' model precision threads "inputs/s" "GFLOP/s" "of fp32 peak" "of bf16 peak"
rate() {  # the items_per_second of a Google Benchmark line
  sed -n 's/.*\(items_per_second\|cells_per_s\)=\([0-9.e+]*\)\/s.*/\2/p' | head -n 1
}
row() {  # name precision threads inputs/s gflop-per-input
  local g f b
  g=$(awk -v r="$4" -v c="$5" 'BEGIN {printf "%.1f", r * c}')
  if [ "$3" = 1 ]; then f=$fp32_1; b=$bf16_1; else f=$fp32_2; b=$bf16_2; fi
  local of_b="-"
  [ "$2" = bf16 ] && of_b=$(awk -v g="$g" -v p="$b" 'BEGIN {printf "%.0f%%", 100 * g / p}')
  printf '%-34s %-5s %7s %12.1f %10s %12s %12s\n' "$1" "$2" "$3" "$4" "$g" \
    "$(awk -v g="$g" -v p="$f" 'BEGIN {printf "%.0f%%", 100 * g / p}')" "$of_b"
}
for p in fp32 bf16; do
  for t in 1 2; do
    r=$(MARROWSCOPE_PRECISION=$p build/bench_detector_forward --benchmark_filter="BM_ShippedDetectorForward/$t/" 2>/dev/null | rate)
    row "detector forward, 1 field" "$p" "$t" "$r" "$det_gflop"
    r=$(MARROWSCOPE_PRECISION=$p build/bench_classifier_speed --benchmark_filter="BM_ShippedClassifierForward/32/$t/" 2>/dev/null | rate)
    row "classifier forward, batch 32" "$p" "$t" "$r" "$cls_gflop"
  done
done
