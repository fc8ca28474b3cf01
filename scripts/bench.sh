#!/usr/bin/env bash
# Benchmarks, not tests: the speed goals of README "Benchmarks", measured on this
# machine with the release build. Prints one block of figures; exits 0 whether or
# not a goal was met (goals are reported, never asserted). Observers (TCP_INFO
# sampling, packet capture) are off unless a figure is about them.
#
# Figures that compare two settings (observers on/off, netns/host) alternate the
# two in chunks, so drift on a shared machine falls on both sides alike.
#
#   scripts/bench.sh                                                  # the full run
#   TRIALS_4K=20 CHUNK=10 DRAIN_TRIALS=2 DRAIN_DURATION=2s scripts/bench.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."

TRIALS_4K=${TRIALS_4K:-100}
CHUNK=${CHUNK:-25}
DRAIN_TRIALS=${DRAIN_TRIALS:-10}
DRAIN_DURATION=${DRAIN_DURATION:-10s}

cargo build --release --quiet
zw=target/release/zerowin
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
off=(--sample off --no-capture)

run() { # file name, then zerowin arguments
  local name=$1; shift
  "$zw" run "$@" --quiet --json "$out/$name.json" >/dev/null || true
}

# Arms: netns without observers (twice: "null" measures the noise floor, the
# difference between two identical arms), netns with observers, and host.
echo "== repro-4k: $TRIALS_4K trials each of: off, observers on, off again, host (alternating chunks of $CHUNK)" >&2
for ((i = 0; i < TRIALS_4K / CHUNK; i++)); do
  run "off-$i" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns "${off[@]}"
  run "on-$i" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns --sample 1ms
  run "null-$i" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns "${off[@]}"
  run "host-$i" scenarios/repro-4k.toml --trials "$CHUNK" --isolation host "${off[@]}"
done
echo "== drain-survives: $DRAIN_TRIALS trials of $DRAIN_DURATION" >&2
run drain scenarios/drain-survives.toml --trials "$DRAIN_TRIALS" --duration "$DRAIN_DURATION" "${off[@]}"

python3 scripts/bench_summary.py "$out"
