#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS (default 600) of wall time each, and prints
# the executions and crashes of each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]
#
# FUZZ_JOBS targets run at once (default 1); each runs under `nice -n 19`. New inputs the fuzzer
# finds go to fuzz/target/corpus/<target>/ (the seeds in fuzz/corpus/<target>/ are only read);
# crashing inputs go to fuzz/artifacts/<target>/ and each one should become a regression test.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail

seconds=${1:-600}
shift || true
cd "$(dirname "$0")/../fuzz"
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
jobs=${FUZZ_JOBS:-1}

# One build for all targets (`cargo fuzz build` takes at most one name), then the binaries run
# directly: `cargo fuzz run` would rebuild whenever a source file changed meanwhile.
# FUZZ_NO_BUILD=1 runs what was built last.
if [ -z "${FUZZ_NO_BUILD:-}" ]; then nice -n 19 cargo +nightly fuzz build >&2; fi
bin=target/x86_64-unknown-linux-gnu/release

run() {
    local target=$1
    mkdir -p "target/corpus/$target" "artifacts/$target" logs
    touch "logs/$target.log.start"
    # libFuzzer stops at the first crash; -timeout turns a hang into a crash too (30 s: the
    # machine may be shared, and an input that takes seconds there is not a hang).
    nice -n 19 "$bin/$target" "target/corpus/$target" "corpus/$target" \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"logs/$target.log" 2>&1 || true
}

for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    echo "fuzzing $target for ${seconds}s" >&2
    run "$target" &
done
wait

printf '%-16s %14s %8s  %s\n' target executions crashes artifacts
for target in "${targets[@]}"; do
    # The final stats, or else the last status line (`#N …`) before a crash.
    executions=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$target.log" | awk '{print $2}' | tail -1)
    [ -n "$executions" ] || executions=$(grep -oE '^#[0-9]+' "logs/$target.log" | tail -1 | tr -d '#')
    # Every crash, timeout, leak or out-of-memory ends with one SUMMARY line.
    crashes=$(grep -c '^SUMMARY: ' "logs/$target.log" || true)
    artifacts=$(find "artifacts/$target" -type f -newer "logs/$target.log.start" 2>/dev/null | tr '\n' ' ')
    printf '%-16s %14s %8s  %s\n' "$target" "${executions:-?}" "$crashes" "${artifacts:-none}"
done
