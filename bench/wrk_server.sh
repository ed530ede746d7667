#!/usr/bin/env bash
# wrk against the lab server's two hot read endpoints: the review queue's cell list
# (GET /api/samples/{id}/cells?order=attention&limit=100) and the differential
# (GET /api/samples/{id}/differential). The server is bench_server_seeded: a real server with
# SQLite in a fresh data directory (or the PostgreSQL database given), one marrow sample of
# FIELDS x CELLS synthetic analysed cells (no model: this measures HTTP, the session check, SQL,
# JSON and the kept answers). wrk sends the admin's session cookie and CSRF header like the web
# app. Prints requests/s and p50/p99 latency per endpoint.
#
#   cmake --build build --target bench_server_seeded
#   bench/wrk_server.sh [build dir=build] [duration=10s] [threads=2] [connections=16] [fields=10] [cells per field=50] [postgresql://... (default SQLite)]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
duration=${2:-10s}
threads=${3:-2}
connections=${4:-16}
fields=${5:-10}
per_field=${6:-50}
db=${7:-}

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk_server: wrk is not installed (scripts/install-deps.sh, or apt-get install wrk)" >&2
  exit 1
fi
bin="$build/bench_server_seeded"
if [ ! -x "$bin" ]; then
  echo "wrk_server: no $bin (cmake --build $build --target bench_server_seeded)" >&2
  exit 1
fi

out=$(mktemp -d /tmp/marrowscope-wrk.XXXXXX)
"$bin" "$fields" "$per_field" $db >"$out/server.txt" 2>"$out/server.err" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

for _ in $(seq 1200); do
  if grep -qx ready "$out/server.txt"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "wrk_server: the server stopped before it was ready:" >&2
    cat "$out/server.err" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -qx ready "$out/server.txt"; then
  echo "wrk_server: the server was not ready after 120 s" >&2
  exit 1
fi
value() { sed -n "s/^$1=//p" "$out/server.txt"; }
port=$(value port)
sample=$(value sample)
cells=$(value cells)
cookie=$(value cookie)
csrf=$(value csrf)

backend=SQLite
if [ -n "$db" ]; then backend=PostgreSQL; fi
echo "server: $backend, 1 sample of $cells cells ($fields fields x $per_field), port $port"
echo "wrk: --latency -t$threads -c$connections -d$duration -H 'Cookie: <session>' -H 'X-CSRF-Token: <token>'"
printf '%-13s %-58s %12s %10s %10s %8s\n' endpoint path requests/s "p50" "p99" non-2xx
run() {
  local name=$1 path=$2 url="http://127.0.0.1:$port$2"
  # One request first: a benchmark of error answers would be fast and meaningless.
  if ! curl -sf -o /dev/null -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" "$url"; then
    echo "wrk_server: GET $path did not answer 2xx" >&2
    exit 1
  fi
  # A short unreported pass first: the server opens its database connections (PostgreSQL: one
  # backend each) and fills its kept answers; the measured pass is the steady state.
  wrk -t"$threads" -c"$connections" -d2s -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" "$url" >/dev/null
  wrk --latency -t"$threads" -c"$connections" -d"$duration" -H "Cookie: $cookie" \
    -H "X-CSRF-Token: $csrf" "$url" >"$out/$name.txt"
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out/$name.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$out/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$out/$name.txt")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out/$name.txt")
  printf '%-13s %-58s %12s %10s %10s %8s\n' "$name" "$path" "$rps" "$p50" "$p99" "${bad:-0}"
  if grep -q "Socket errors" "$out/$name.txt"; then grep "Socket errors" "$out/$name.txt"; fi
}
run cells "/api/samples/$sample/cells?order=attention&limit=100"
run differential "/api/samples/$sample/differential"
