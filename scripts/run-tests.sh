#!/usr/bin/env bash
# Runs every test suite against an already built tree. Called by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
export MARROWSCOPE_THREADS=${MARROWSCOPE_THREADS:-$(nproc)}
ctest --test-dir "$BUILD_DIR" --output-on-failure
