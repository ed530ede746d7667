#!/usr/bin/env bash
# Runs every test suite against an already built tree. Called by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
export MARROWSCOPE_THREADS=${MARROWSCOPE_THREADS:-$(nproc)}
# The store and server suites also run against a throwaway local PostgreSQL cluster.
if [ -z "${MARROWSCOPE_TEST_PG:-}" ]; then
  eval "$(scripts/start-test-postgres.sh)"
  trap 'scripts/start-test-postgres.sh --stop "$MARROWSCOPE_TEST_PG_DIR"' EXIT
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure
# Web app: component and store tests (vitest), then the browser tests against the real server.
(cd web && npm test --silent)
bash scripts/run-e2e.sh "$BUILD_DIR"
