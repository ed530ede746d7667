#!/usr/bin/env bash
# Builds the libFuzzer harnesses (build-fuzz/, clang-16, ASan + UBSan) and runs each one in turn
# for FUZZ_SECONDS with its seed corpus and dictionary; prints executions, exec/s, coverage and
# crashes per harness. Called by `make fuzz`.
#
#   FUZZ_SECONDS=600        seconds per harness
#   FUZZ_HARNESSES="a b"    run only these (default: every fuzz/*_fuzz.cpp)
#   FUZZ_LOG_DIR=/tmp/fuzz-logs   libFuzzer logs, crash artifacts and summary.md
#   FUZZ_WORK_DIR=build-fuzz/corpus-work   new corpus entries (the committed corpus is untouched)
#   FUZZ_NICE=10            niceness of the fuzzers (single process each: other work goes on)
#   --no-build              use the binaries already in build-fuzz/
# A crash stops that harness (libFuzzer's default) and the script goes on to the next; the
# input is left as <log dir>/<name>/crash-*. Once the bug is fixed, copy it to
# fuzz/regressions/<name>/ so that `make test` replays it. Exit status 1 when any harness crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build-fuzz
SECONDS_EACH=${FUZZ_SECONDS:-600}
LOG_DIR=${FUZZ_LOG_DIR:-/tmp/fuzz-logs}
WORK_DIR=${FUZZ_WORK_DIR:-$BUILD_DIR/corpus-work}
NICE=${FUZZ_NICE:-10}

if [ "${1:-}" != "--no-build" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DMARROWSCOPE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  nice -n "$NICE" cmake --build "$BUILD_DIR" -j "$(nproc)"
fi

if [ -n "${FUZZ_HARNESSES:-}" ]; then
  read -r -a harnesses <<<"$FUZZ_HARNESSES"
else
  harnesses=()
  for f in fuzz/*_fuzz.cpp; do
    n=$(basename "$f" _fuzz.cpp)
    harnesses+=("$n")
  done
fi

dict_for() {
  case "$1" in
    request_body|taxonomy|model_json) echo fuzz/dict/json.dict ;;
    formats) echo fuzz/dict/formats.dict ;;
    http_head|multipart) echo fuzz/dict/http.dict ;;
  esac
}

# The value of libFuzzer's final "stat::<key>: <value>" line.
stat_of() { sed -n "s/^stat::$2: *//p" "$1" | tail -1; }
# The last "cov: N ft: M" of the run's progress lines.
cov_of() { grep -o 'cov: [0-9]* ft: [0-9]*' "$1" | tail -1; }

mkdir -p "$LOG_DIR"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary="$LOG_DIR/summary.md"
{
  echo "| harness | seconds | executions | exec/s | cov | ft | corpus (seed + new) | crashes |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$summary"
failed=0
for n in "${harnesses[@]}"; do
  bin="$BUILD_DIR/fuzz_$n"
  [ -x "$bin" ] || { echo "fuzz: $bin missing (build first)"; exit 2; }
  out="$LOG_DIR/$n"
  mkdir -p "$out" "$WORK_DIR/$n"
  args=(-max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$out/" -close_fd_mask=1)
  d=$(dict_for "$n")
  [ -n "$d" ] && args+=(-dict="$d")
  dirs=("$WORK_DIR/$n" "fuzz/corpus/$n")
  [ -d "fuzz/regressions/$n" ] && dirs+=("fuzz/regressions/$n")
  echo "fuzz: $n for ${SECONDS_EACH}s (log $out.log)"
  start=$(date +%s)
  set +e
  nice -n "$NICE" "$bin" "${args[@]}" "${dirs[@]}" >"$out.log" 2>&1
  rc=$?
  set -e
  took=$(( $(date +%s) - start ))
  crashes=$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes="rc=$rc"
  cov=$(cov_of "$out.log")
  corpus=$(( $(find "fuzz/corpus/$n" -type f | wc -l) + $(find "$WORK_DIR/$n" -type f | wc -l) ))
  execs=$(stat_of "$out.log" number_of_executed_units)
  rate=$(stat_of "$out.log" average_exec_per_sec)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$took" "${execs:-?}" "${rate:-?}" \
    "$(echo "$cov" | awk '{print $2}')" "$(echo "$cov" | awk '{print $4}')" "$corpus" "$crashes" >>"$summary"
  [ "$crashes" != "0" ] && failed=1
done
cat "$summary"
exit "$failed"
