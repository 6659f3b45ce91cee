#!/usr/bin/env bash
# Builds the libFuzzer targets (preset "fuzz": clang, ASan+UBSan, build/fuzz) and runs each for a bounded time,
# starting from its seed corpus in tests/fuzz/corpus/<target>/. New inputs go to a scratch corpus, never into the
# source tree; a crash leaves its input in build/fuzz/artifacts/ and fails the run.
#   tests/fuzz/run.sh [seconds-per-target] [target...]      (default 60 s, every target)
# Exits 77 (CTest: skipped) when clang or libFuzzer is missing; scripts/deps.sh --test installs both.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_ingest fuzz_request_head fuzz_chunked)

if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "fuzz: clang++ or libclang_rt.fuzzer missing (scripts/deps.sh --test installs clang and libclang-rt-14-dev)"
    exit 77
fi

cmake --preset fuzz >/dev/null
nice cmake --build --preset fuzz -j 2  # a handful of sources; CI machines have two cores

mkdir -p build/fuzz/artifacts
status=0
for t in "${targets[@]}"; do
    name="${t#fuzz_}"
    scratch=$(mktemp -d)
    echo "==> $t for ${seconds}s (seeds: tests/fuzz/corpus/$name)"
    # LeakSanitizer stays on (libFuzzer's -detect_leaks=1 default); -timeout catches hangs, -rss_limit_mb blow-ups.
    if ! ASAN_OPTIONS="abort_on_error=1:detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        "build/fuzz/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -dict="tests/fuzz/$name.dict" -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" \
        "$scratch" "tests/fuzz/corpus/$name" 2>"build/fuzz/$t.log"; then
        status=1
        echo "fuzz: $t FAILED; last lines of build/fuzz/$t.log:"
        tail -n 60 "build/fuzz/$t.log"
    else
        grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|^#[0-9]+.*DONE" "build/fuzz/$t.log" || true
        echo "fuzz: $t ok"
    fi
    rm -rf "$scratch"
done
exit $status
