#!/usr/bin/env bash
# Benchmarks, not tests: the speed goals of README "Benchmarks", measured on this
# machine with the release build. Prints one block of figures; exits 0 whether or
# not a goal was met (goals are reported, never asserted).
#
#   scripts/bench.sh            # 100 trials of repro-4k, 10 x 10 s of drain
#   TRIALS_4K=20 DRAIN_TRIALS=3 DRAIN_DURATION=2s scripts/bench.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."

TRIALS_4K=${TRIALS_4K:-100}
DRAIN_TRIALS=${DRAIN_TRIALS:-10}
DRAIN_DURATION=${DRAIN_DURATION:-10s}

cargo build --release --quiet
zw=target/release/zerowin
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== repro-4k: $TRIALS_4K trials" >&2
"$zw" run scenarios/repro-4k.toml --trials "$TRIALS_4K" --quiet --json "$out/4k.json" >/dev/null || true
echo "== drain-survives: $DRAIN_TRIALS trials of $DRAIN_DURATION" >&2
"$zw" run scenarios/drain-survives.toml --trials "$DRAIN_TRIALS" --duration "$DRAIN_DURATION" \
    --quiet --json "$out/drain.json" >/dev/null || true

python3 scripts/bench_summary.py "$out/4k.json" "$out/drain.json"
