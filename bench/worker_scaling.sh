#!/usr/bin/env bash
# Worker scaling: one `marrowscope serve --workers 0` (stores uploads, queues jobs, analyses
# nothing) and 1, 2, 3 ... `marrowscope worker` processes on one PostgreSQL database and one data
# directory, all analysing the same batch of txl-pbc fields with the shipped models. For each worker
# count: the workers are started and their models loaded, the batch is uploaded to a fresh sample
# (the files are already stored; the jobs are new), and the wall time runs from the first job's
# claim to the last job's end (the database's started_at / finished_at), so model loading and the
# upload are not counted. Prints fields/s, cells/s and the speed-up over one worker.
#
#   cmake --build build --target marrowscope
#   bench/worker_scaling.sh [fields=60] [worker counts="1 2 3"] [threads per worker=$MARROWSCOPE_THREADS or 1]
#
# Uses $MARROWSCOPE_TEST_PG when set, otherwise starts (and stops) scripts/start-test-postgres.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/server_lib.sh
source bench/server_lib.sh

fields=${1:-60}
counts=${2:-"1 2 3"}
threads=${3:-${MARROWSCOPE_THREADS:-1}}
bin=build/marrowscope
images=../shared/data/txl-pbc/images/val
bench_require_tools worker_scaling curl jq psql
[ -x "$bin" ] || { echo "worker_scaling: no $bin (cmake --build build --target marrowscope)" >&2; exit 1; }
[ -d "$images" ] || { echo "worker_scaling: no $images" >&2; exit 1; }

bench_init marrowscope-workers
# A schema of its own, so the benchmark's queue holds only its jobs.
bench_start_postgres_schema bench_workers
sql() { psql -qtA "$MARROWSCOPE_TEST_PG" -c "SET search_path TO $schema; $1" | tail -n 1; }
data="$out/data"

password=bench-password-1
MARROWSCOPE_ADMIN_PASSWORD=$password "$bin" serve --db "$db" --data-dir "$data" --port 0 --workers 0 \
  --no-analysis --web-root "$out/none" >"$out/serve.log" 2>&1 &
pids+=($!)
port=$(bench_wait_for_port "$out/serve.log" worker_scaling)
bench_login "http://127.0.0.1:$port/api" "$password" "$out/cookies"
patient=$(call POST /patients -H 'Content-Type: application/json' -d '{"identifier":"BENCH-W","name":"Bench Workers"}' | jq .id)
batch=()
for f in $(ls "$images" | sort | head -n "$fields"); do batch+=(-F "files=@$images/$f"); done

echo "machine: $(nproc) cores, $(uname -m), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "batch: $fields fields of $images; $threads LibTorch thread(s) per worker (MARROWSCOPE_THREADS)"
printf '%-8s %8s %8s %10s %10s %10s %9s\n' workers fields cells wall_s fields/s cells/s speedup
base=""
for n in $counts; do
  wpids=()
  for k in $(seq "$n"); do
    MARROWSCOPE_THREADS=$threads "$bin" worker --db "$db" --data-dir "$data" --poll-ms 100 \
      >"$out/worker$n-$k.log" 2>&1 &
    wpids+=($!)
    pids+=($!)
  done
  for k in $(seq "$n"); do  # models loaded in every worker
    for _ in $(seq 600); do grep -q '^marrowscope worker: ' "$out/worker$n-$k.log" && break; sleep 0.1; done
    grep -q '^marrowscope worker: ' "$out/worker$n-$k.log" || { cat "$out/worker$n-$k.log" >&2; exit 1; }
  done
  sample=$(call POST "/patients/$patient/samples" -H 'Content-Type: application/json' \
    -d "{\"accession\":\"BENCH-W-$n-$$\",\"specimen\":\"peripheral_blood\"}" | jq .id)
  call POST "/samples/$sample/images" "${batch[@]}" >/dev/null
  while :; do
    left=$(sql "SELECT COUNT(*) FROM jobs WHERE sample_id = $sample AND status IN ('queued', 'running')")
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  done_jobs=$(sql "SELECT COUNT(*) FROM jobs WHERE sample_id = $sample AND status = 'done'")
  [ "$done_jobs" = "$fields" ] || { echo "worker_scaling: $done_jobs of $fields jobs done" >&2; exit 1; }
  wall_ms=$(sql "SELECT MAX(finished_at) - MIN(started_at) FROM jobs WHERE sample_id = $sample")
  cells=$(sql "SELECT COUNT(*) FROM cells WHERE sample_id = $sample")
  per_worker=$(sql "SELECT string_agg(n::text, '/' ORDER BY n DESC) FROM (SELECT COUNT(*) AS n FROM log_entries
    WHERE action = 'analysis.done' AND target = 'BENCH-W-$n-$$' GROUP BY split_part(split_part(details, 'worker ', 2), '#', 1)) w")
  rate=$(awk -v f="$fields" -v ms="$wall_ms" 'BEGIN {printf "%.2f", f * 1000 / ms}')
  [ -n "$base" ] || base=$rate
  printf '%-8s %8s %8s %10s %10s %10s %9s   (jobs per worker: %s)\n' "$n" "$fields" "$cells" \
    "$(awk -v ms="$wall_ms" 'BEGIN {printf "%.1f", ms / 1000}')" "$rate" \
    "$(awk -v c="$cells" -v ms="$wall_ms" 'BEGIN {printf "%.1f", c * 1000 / ms}')" \
    "$(awk -v r="$rate" -v b="$base" 'BEGIN {printf "%.2fx", r / b}')" "$per_worker"
  for p in "${wpids[@]}"; do kill -TERM "$p"; done
  for p in "${wpids[@]}"; do wait "$p" || { echo "worker_scaling: a worker did not stop cleanly" >&2; exit 1; }; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
psql -q "$MARROWSCOPE_TEST_PG" -c "SET client_min_messages TO warning; DROP SCHEMA $schema CASCADE"
