#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the test suites: a fresh data directory under /tmp,
# a free port on 127.0.0.1, trust authentication, no fsync (it is thrown away). As root the
# cluster runs as the `postgres` system user (PostgreSQL refuses to run as root).
#
#   eval "$(scripts/start-test-postgres.sh)"     # exports MARROWSCOPE_TEST_PG and ..._PG_DIR
#   scripts/start-test-postgres.sh --stop "$MARROWSCOPE_TEST_PG_DIR"
#
# Only the two export lines go to stdout; progress and errors go to stderr.
set -euo pipefail

find_bin() {
  for v in 15 16 17 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then echo "/usr/lib/postgresql/$v/bin"; return; fi
  done
  echo "start-test-postgres: no PostgreSQL server found (apt-get install postgresql)" >&2
  exit 1
}
BIN=$(find_bin)

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "--stop" ]; then
  dir=${2:?usage: start-test-postgres.sh --stop DIR}
  case "$dir" in /tmp/marrowscope-pg.*) ;; *) echo "refusing to remove $dir" >&2; exit 2 ;; esac
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  exit 0
fi

dir=$(mktemp -d /tmp/marrowscope-pg.XXXXXX)
chmod 755 "$dir"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi

# A free TCP port: let the kernel pick one, then release it for the server.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

as_owner "$BIN/initdb" -D "$dir/data" -U marrowscope --auth=trust -E UTF8 --no-sync \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 || { cat "$dir/server.log" >&2; exit 1; }
as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U marrowscope marrowscope_test >&2

echo "start-test-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir" >&2
echo "export MARROWSCOPE_TEST_PG=postgresql://marrowscope@127.0.0.1:$port/marrowscope_test"
echo "export MARROWSCOPE_TEST_PG_DIR=$dir"
