#!/usr/bin/env bash
# Benchmarks, not tests: the speed goals of README "Benchmarks", measured on this
# machine with the release build. Prints one block of figures; exits 0 whether or
# not a goal was met (goals are reported, never asserted). Observers (TCP_INFO
# sampling, packet capture) are off unless a figure is about them.
#
#   scripts/bench.sh                                            # the full run
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
quiet=(--quiet)
off=(--sample off --no-capture)

run() { # name, then zerowin arguments
  local name=$1; shift
  echo "== $name" >&2
  "$zw" run "$@" "${quiet[@]}" --json "$out/$name.json" >/dev/null || true
}

run repro-netns scenarios/repro-4k.toml --trials "$TRIALS_4K" --isolation netns "${off[@]}"
run repro-observed scenarios/repro-4k.toml --trials "$TRIALS_4K" --isolation netns --sample 1ms
run repro-host scenarios/repro-4k.toml --trials "$TRIALS_4K" --isolation host "${off[@]}"
run drain scenarios/drain-survives.toml --trials "$DRAIN_TRIALS" --duration "$DRAIN_DURATION" "${off[@]}"

python3 scripts/bench_summary.py "$out"
