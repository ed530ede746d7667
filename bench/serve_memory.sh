#!/usr/bin/env bash
# Memory of the lab server as a lab runs it: `marrowscope serve` on SQLite with both shipped models
# (one analysis worker), its resident memory (VmRSS of /proc) right after start, after N txl-pbc
# val fields went up in one request and were analysed, and after SECONDS of the review reads at 32
# keep-alive connections (wrk on the review queue's first page, then on the differential), with the
# process's peak (VmHWM) at the end. Then the same for one large field analysed by the CLI: peak RSS
# of `marrowscope analyze` on a 10,000 x 10,000 mosaic of val fields (built here with Python's PIL).
#
#   cmake --build build --target marrowscope
#   bench/serve_memory.sh [fields=40] [seconds=20]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/server_lib.sh
source bench/server_lib.sh
fields=${1:-40}
seconds=${2:-20}
bin=build/marrowscope
val=../shared/data/txl-pbc/images/val
bench_require_tools serve_memory curl jq wrk /usr/bin/time /usr/bin/python3
[ -x "$bin" ] || { echo "serve_memory: no $bin" >&2; exit 1; }
[ -d "$val" ] || { echo "serve_memory: no $val" >&2; exit 1; }

bench_init marrowscope-serve-memory
password=bench-password-1
MARROWSCOPE_ADMIN_PASSWORD=$password "$bin" serve --data-dir "$out/data" --port 0 --workers 1 \
  --web-root "$(pwd)/web/dist" >"$out/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
port=$(bench_wait_for_port "$out/serve.log" serve_memory 1200 "$serve_pid")
mib() { awk -v k="$1:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$serve_pid/status"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "serve (SQLite, shipped detector and classifier, 1 worker): RSS after start $(mib VmRSS) MiB"

api="http://127.0.0.1:$port/api"
bench_login "$api" "$password" "$out/cookies"
cookie=$(awk '$6 == "ms_session" {print "ms_session=" $7}' "$out/cookies")
patient=$(json POST /patients -d '{"identifier":"BENCH-MEM","name":"Bench Memory"}' | jq .id)
sample=$(json POST "/patients/$patient/samples" -d '{"accession":"BENCH-MEM","specimen":"bone_marrow"}' | jq .id)
args=()
for f in $(ls "$val" | sort | head -n "$fields"); do args+=(-F "files=@$val/$f"); done
call POST "/samples/$sample/images" "${args[@]}" >/dev/null
while :; do
  p=$(call GET "/samples/$sample/progress")
  [ "$(jq '.queued + .running' <<<"$p")" = 0 ] && break
  sleep 0.5
done
echo "after analysing $fields fields ($(jq .cells <<<"$p") cells): RSS $(mib VmRSS) MiB"
for path in "/samples/$sample/cells?order=attention&limit=100" "/samples/$sample/differential"; do
  wrk -t2 -c32 -d"${seconds}s" -H "Cookie: $cookie" "$api$path" >"$out/wrk.txt"
  echo "after ${seconds} s of GET $path at 32 connections ($(awk '/^Requests\/sec:/ {print $2}' "$out/wrk.txt") req/s): RSS $(mib VmRSS) MiB"
done
echo "serve peak RSS (VmHWM): $(mib VmHWM) MiB"

/usr/bin/python3 - "$val" "$out/field100mp.png" <<'EOF'
import glob, sys
from PIL import Image
files = sorted(glob.glob(sys.argv[1] + "/*"))
side, tile = 10000, 575
mosaic = Image.new("RGB", (side, side), (235, 225, 230))
k = 0
for y in range(0, side, tile):
    for x in range(0, side, tile):
        mosaic.paste(Image.open(files[k % len(files)]).convert("RGB").resize((tile, tile)), (x, y))
        k += 1
mosaic.save(sys.argv[2])
EOF
/usr/bin/time -v -o "$out/analyze.time" "$bin" analyze "$out/field100mp.png" --json "$out/f.json" --quiet >"$out/analyze.log"
echo "analyze, one 10000 x 10000 field: $(tail -n 1 "$out/analyze.log"); peak RSS $(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$out/analyze.time") MiB"
