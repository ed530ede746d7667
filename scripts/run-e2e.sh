#!/usr/bin/env bash
# Browser end-to-end tests of the web app (web/e2e/run.mjs, playwright-core driving Debian's
# Chromium) against the REAL server: a fresh SQLite database in a temporary directory, the shipped
# models, web/dist as built by `npm run build`. Called by scripts/run-tests.sh after ctest;
# screenshots go to web/test-artifacts/ (gitignored).
# Skips (exit 0, with the reason) only when ../shared/data, which holds the field images the
# flow uploads, is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${1:-build}
DATA=${MARROWSCOPE_SHARED_DATA:-$ROOT/../shared/data}

if [ ! -d "$DATA/txl-pbc/images/val" ]; then
  echo "e2e: SKIPPED - $DATA/txl-pbc/images/val is absent (the browser flow uploads those fields)"
  exit 0
fi
BIN="$ROOT/$BUILD_DIR/marrowscope"
[ -x "$BIN" ] || { echo "e2e: $BIN is not built (make build)"; exit 1; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "e2e: $CHROMIUM is missing (scripts/install-deps.sh installs chromium)"; exit 1; }
[ -d web/node_modules/playwright-core ] || { echo "e2e: web/node_modules is missing (cd web && npm ci)"; exit 1; }
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/public web/index.html web/vite.config.js web/package-lock.json -newer web/dist/index.html -print -quit)" ]; then
  echo "e2e: building web/dist"
  (cd web && npm run build --silent)
fi

TMP=$(mktemp -d /tmp/marrowscope-e2e.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export MARROWSCOPE_ADMIN_PASSWORD="e2e-Admin-$(date +%s)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_E2E_TMP:-0}" = 1 ]; then echo "e2e: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

"$BIN" serve --data-dir "$TMP" --port "$PORT" --db "sqlite:$TMP/db.sqlite" --web-root "$ROOT/web/dist" \
  --workers "${E2E_WORKERS:-1}" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  if curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "e2e: the server exited at start:"; cat "$TMP/server.log"; exit 1
  fi
  sleep 0.2
done
curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null || { echo "e2e: the server did not answer"; cat "$TMP/server.log"; exit 1; }

mkdir -p web/test-artifacts
set +e
BASE_URL="http://127.0.0.1:$PORT" ADMIN_PASSWORD="$MARROWSCOPE_ADMIN_PASSWORD" SHARED_DATA="$DATA" \
  ARTIFACTS="$ROOT/web/test-artifacts" CHROMIUM="$CHROMIUM" node web/e2e/run.mjs
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "e2e: FAILED; server log tail:"; tail -n 40 "$TMP/server.log"
fi
exit $rc
