#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test command: installs dependencies, builds Amber twice (a normal
# build and an ASan+UBSan build), runs every test in the first and the unit
# tests plus the hostile-input tests in the second, and ends with one line
# "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

JOBS=$(nproc)
passed=0; failed=0; skipped=0

# count BUILD_DIR: adds meson's summary counters of the last run.
count() {
  local log="$1/meson-logs/testlog.txt"
  local ok fail timeout unexpected skip
  ok=$(grep -E '^Ok:' "$log" | tail -1 | awk '{print $2}')
  fail=$(grep -E '^Fail:' "$log" | tail -1 | awk '{print $2}')
  timeout=$(grep -E '^Timeout:' "$log" | tail -1 | awk '{print $2}')
  unexpected=$(grep -E '^Unexpected Pass:' "$log" | tail -1 | awk '{print $3}')
  skip=$(grep -E '^Skipped:' "$log" | tail -1 | awk '{print $2}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0} + ${timeout:-0} + ${unexpected:-0}))
  skipped=$((skipped + ${skip:-0}))
}

run_build() {  # DIR MESON_ARGS... -- TEST_ARGS...
  local dir="$1"; shift
  local setup_args=()
  while [ "$1" != "--" ]; do setup_args+=("$1"); shift; done
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${setup_args[@]}" >/dev/null || return 1
  fi
  ninja -C "$dir" -j"$JOBS" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes 1 "$@"
  count "$dir"
}

echo "=== build + all tests (build/) ==="
if ! run_build build -- ; then
  [ -f build/meson-logs/testlog.txt ] || failed=$((failed + 1))
fi

echo "=== ASan+UBSan build: unit tests and hostile-input tests (build-asan/) ==="
if ! run_build build-asan -Dsanitize=true -- --suite unit --suite hostile; then
  [ -f build-asan/meson-logs/testlog.txt ] || failed=$((failed + 1))
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
