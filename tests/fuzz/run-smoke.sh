#!/bin/sh
# Fuzz smoke run: build the libFuzzer targets with clang and run each for a few seconds.
# Fails (exit 1) if any target crashes, leaks, trips a sanitizer or check, or times out.
#
#   tests/fuzz/run-smoke.sh [seconds-per-target] [build-dir]
#   seconds: default 25 (or $TM_FUZZ_SECONDS; CI uses 10); build-dir: default <repo>/build-fuzz
#   CC: default clang (clang-14 if plain clang is missing)
#
# The seed corpus in the tree is not modified: each run works on a copy; new crashers are
# left in <build-dir>/fuzz-artifacts/<target>/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-${TM_FUZZ_SECONDS:-25}}
build=${2:-$root/build-fuzz}
targets="fuzz_ws_frame fuzz_ws_ops fuzz_json fuzz_query fuzz_jwt fuzz_cursor fuzz_parse fuzz_event fuzz_routes"

if [ -z "${CC:-}" ]; then
    if command -v clang >/dev/null 2>&1; then CC=clang; else CC=clang-14; fi
fi
command -v "$CC" >/dev/null 2>&1 || { echo "run-smoke: $CC not found" >&2; exit 2; }

CC=$CC cmake -S "$root" -B "$build" -DTM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086
make -C "$build" -j"$(nproc)" $targets >/dev/null

failed=""
for t in $targets; do
    bin="$build/tests/fuzz/$t"
    work="$build/fuzz-work/$t"
    art="$build/fuzz-artifacts/$t"
    rm -rf "$work"
    mkdir -p "$work" "$art"
    cp "$here/corpus/$t/"* "$work/"
    dict=""
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    echo "== $t: ${seconds}s"
    # shellcheck disable=SC2086
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
       "$bin" "$work" $dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
              -max_len=70000 -print_final_stats=1 -artifact_prefix="$art/" \
              >"$build/fuzz-work/$t.log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done' "$build/fuzz-work/$t.log" || true
    else
        echo "!! $t failed; log: $build/fuzz-work/$t.log, artifacts: $art" >&2
        tail -n 40 "$build/fuzz-work/$t.log" >&2
        failed="$failed $t"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz smoke FAILED:$failed" >&2
    exit 1
fi
echo "fuzz smoke passed ($targets)"
