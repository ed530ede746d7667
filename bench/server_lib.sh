# shellcheck shell=bash
# Set-up shared by the bench scripts that drive a `marrowscope serve` through its API
# (bench/worker_area.sh, bench/worker_scaling.sh, bench/serve_memory.sh). Source it after
# `set -euo pipefail` and the cd to the repository root (the paths below are relative to it):
#
#   source bench/server_lib.sh
#   bench_require_tools NAME curl jq ...     # "NAME: TOOL is not installed" and exit 1 if one is missing
#   bench_init PREFIX                        # $out: a fresh /tmp/PREFIX.XXXXXX; $pids: killed on exit
#   bench_start_postgres_schema PREFIX       # $schema (PREFIX_$$) and $db, the URL that uses it
#   ... start `marrowscope serve ... --port 0 >"$out/serve.log" 2>&1 &`; pids+=("$!")
#   port=$(bench_wait_for_port "$out/serve.log" NAME)
#   bench_login "http://127.0.0.1:$port/api" PASSWORD "$out/cookies"   # $csrf
#   call METHOD PATH [curl args...]          # json METHOD PATH [...]: the same with a JSON body
#
# NAME is the script's name: its error messages begin with it. The EXIT trap that bench_init sets
# kills every process in $pids, stops a PostgreSQL that bench_start_postgres_schema started (one
# given in $MARROWSCOPE_TEST_PG is left alone) and removes $out.

bench_require_tools() {  # NAME TOOL...
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is not installed" >&2; exit 1; }
  done
}

bench_pg_started=""
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$bench_pg_started" ]; then scripts/start-test-postgres.sh --stop "$MARROWSCOPE_TEST_PG_DIR" >/dev/null 2>&1 || true; fi
  rm -rf "$out"
}

bench_init() {  # PREFIX
  out=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}

# Uses $MARROWSCOPE_TEST_PG when set, otherwise starts scripts/start-test-postgres.sh (stopped by
# bench_cleanup). A schema of its own per run, so the benchmark's queue holds only its jobs.
bench_start_postgres_schema() {  # PREFIX
  if [ -z "${MARROWSCOPE_TEST_PG:-}" ]; then
    eval "$(scripts/start-test-postgres.sh)"
    bench_pg_started=1
  fi
  schema="$1_$$"
  psql -q "$MARROWSCOPE_TEST_PG" -c "CREATE SCHEMA $schema"
  # shellcheck disable=SC2034  # read by the sourcing script
  db="$MARROWSCOPE_TEST_PG?options=-csearch_path%3D$schema"
}

# Prints the port from serve's "marrowscope serve: http://HOST:PORT/" line, polling LOGFILE every
# 0.1 s up to TRIES times (default 600). With PID, fails as soon as that process is gone.
bench_wait_for_port() {  # LOGFILE NAME [TRIES [PID]]
  local log=$1 name=$2 tries=${3:-600} pid=${4:-} port="" _
  for _ in $(seq "$tries"); do
    port=$(sed -n 's|^marrowscope serve: http://[^:]*:\([0-9]*\)/.*|\1|p' "$log")
    [ -n "$port" ] && break
    if [ -n "$pid" ]; then
      kill -0 "$pid" 2>/dev/null || { echo "$name: serve stopped:" >&2; cat "$log" >&2; return 1; }
    fi
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$name: serve did not start:" >&2; cat "$log" >&2; return 1; }
  echo "$port"
}

# Logs in as admin; `call` then sends the session cookie and the CSRF token.
bench_login() {  # API PASSWORD COOKIEJAR
  local login
  bench_api=$1
  bench_cookie_jar=$3
  login=$(curl -sf -c "$bench_cookie_jar" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$2\"}" "$bench_api/auth/login")
  csrf=$(jq -r .csrf_token <<<"$login")
}

call() {  # METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sf -b "$bench_cookie_jar" -H "X-CSRF-Token: $csrf" -X "$method" "$@" "$bench_api$path"
}

json() { call "$@" -H 'Content-Type: application/json'; }
