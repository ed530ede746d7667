#!/usr/bin/env bash
# A slide area analysed by a separate worker process: one `marrowscope serve --workers 0
# --no-analysis` (takes the chunked upload, queues the area job, analyses nothing) and one
# `marrowscope worker` on PostgreSQL, sharing one data directory. The slide is uploaded through the
# API in its server-announced chunks, an area is queued, and the worker, run under /usr/bin/time -v,
# analyses it. Prints the area's time (the job's started_at / finished_at), cells, megapixels/s, the
# peak RSS of the worker process and of the server process, and (bench/slide_first_tile.mjs) the
# time a browser takes from opening the slide's page to its first deep-zoom tile.
#
#   cmake --build build --target marrowscope
#   bench/worker_area.sh SLIDE.tif X,Y,W,H [threads per worker=$MARROWSCOPE_THREADS or 2]
#
# Uses $MARROWSCOPE_TEST_PG when set, otherwise starts (and stops) scripts/start-test-postgres.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/server_lib.sh
source bench/server_lib.sh
slide=${1:?slide file}
IFS=, read -r ax ay aw ah <<<"${2:?area x,y,w,h}"
threads=${3:-${MARROWSCOPE_THREADS:-2}}
bin=build/marrowscope
bench_require_tools worker_area curl jq psql /usr/bin/time
[ -x "$bin" ] || { echo "worker_area: no $bin" >&2; exit 1; }

bench_init marrowscope-worker-area
bench_start_postgres_schema bench_area
data="$out/data"
password=bench-password-1
MARROWSCOPE_ADMIN_PASSWORD=$password /usr/bin/time -v -o "$out/serve.time" "$bin" serve --db "$db" \
  --data-dir "$data" --port 0 --workers 0 --no-analysis --web-root "$(pwd)/web/dist" >"$out/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
port=$(bench_wait_for_port "$out/serve.log" worker_area)
bench_login "http://127.0.0.1:$port/api" "$password" "$out/cookies"
patient=$(json POST /patients -d '{"identifier":"BENCH-A","name":"Bench Area"}' | jq .id)
sample=$(json POST "/patients/$patient/samples" -d '{"accession":"BENCH-AREA","specimen":"bone_marrow"}' | jq .id)

bytes=$(stat -c %s "$slide")
up=$(json POST "/samples/$sample/slide-uploads" -d "{\"filename\":\"$(basename "$slide")\",\"bytes\":$bytes}")
upload=$(jq .id <<<"$up")
chunk=$(jq .chunk_bytes <<<"$up")
t0=$(date +%s.%N)
for ((at = 0; at < bytes; at += chunk)); do
  dd if="$slide" of="$out/chunk" bs="$chunk" skip=$((at / chunk)) count=1 status=none
  call PUT "/slide-uploads/$upload?offset=$at" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$out/chunk" >/dev/null
done
image=$(call POST "/slide-uploads/$upload/finish" | jq .id)
t1=$(date +%s.%N)
job=$(json POST "/images/$image/areas" -d "{\"x\":$ax,\"y\":$ay,\"w\":$aw,\"h\":$ah}" | jq .id)

MARROWSCOPE_THREADS=$threads /usr/bin/time -v -o "$out/worker.time" "$bin" worker --db "$db" \
  --data-dir "$data" --poll-ms 100 >"$out/worker.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
while :; do
  status=$(call GET "/jobs/$job" | jq -r .status)
  case $status in done) break ;; failed | cancelled) echo "worker_area: job $status" >&2; call GET "/jobs/$job" >&2; exit 1 ;; esac
  sleep 0.5
done
# SIGTERM to the worker itself (the child of /usr/bin/time, which then writes its report).
pkill -TERM -P "$worker_pid" || true
wait "$worker_pid" || true
# The slide in a real browser: navigation to its first deep-zoom tile (needs web/dist, Node and
# Chromium; skipped without them).
if [ -f web/dist/index.html ] && [ -x /usr/bin/chromium ] && command -v node >/dev/null; then
  BASE="http://127.0.0.1:$port" PASSWORD=$password SAMPLE=$sample IMAGE=$image node bench/slide_first_tile.mjs
fi
pkill -TERM -P "$serve_pid" || true
wait "$serve_pid" || true
j=$(psql -qtA "$MARROWSCOPE_TEST_PG" -c "SET search_path TO $schema; SELECT (finished_at - started_at) FROM jobs WHERE id = $job" | tail -n 1)
cells=$(psql -qtA "$MARROWSCOPE_TEST_PG" -c "SET search_path TO $schema; SELECT COUNT(*) FROM cells WHERE job_id = $job" | tail -n 1)
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
echo "machine: $(nproc) cores, $(uname -m); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "slide: $slide ($((bytes / 1048576)) MiB), uploaded in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
echo "area: $ax,$ay ${aw}x${ah} ($(echo "scale=1; $aw * $ah / 1000000" | bc) MP), $threads LibTorch thread(s) in the worker"
echo "analysis: $(echo "scale=1; $j / 1000" | bc) s, $cells cells, $(echo "scale=2; $aw * $ah / 1000 / $j" | bc) MP/s"
echo "peak RSS: worker $(rss "$out/worker.time") MiB, server $(rss "$out/serve.time") MiB"
