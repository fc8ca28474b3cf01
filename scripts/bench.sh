#!/usr/bin/env bash
# Benchmarks, not tests: the figures of docs/benchmarks.md, measured on this machine
# with the release build. Prints one block of figures; exits 0 whether or not a goal
# was met (goals are reported, never asserted). Observers (TCP_INFO sampling, packet
# capture, the kernel's tracepoints) are off unless a figure is about them.
#
# Figures that compare settings (observers on/off, netns/host) alternate the arms in
# chunks, so drift on a shared machine falls on every arm alike, and intervals are
# computed by resampling whole chunks.
#
#   scripts/bench.sh                                                          # the full run
#   TRIALS_4K=40 CHUNK=10 TRIALS_2014=10 CLAIM_TRIALS=2 DRAIN_TRIALS=2 DRAIN_DURATION=2s scripts/bench.sh   # quicker
#   PARTS=remedies scripts/bench.sh       # one part: repro (the reproduction and its observers), observers (the default observers against the null arm, 300 trials an arm), remedies, sockopts, sweeps, lobby, diagnose, servers, jetstream or watch
#   PARTS=baseline BASELINE=473a978 scripts/bench.sh   # repro-4k, this build against another commit's, side by side
set -euo pipefail
cd "$(dirname "$0")/.."

TRIALS_4K=${TRIALS_4K:-200}
CHUNK=${CHUNK:-10}
TRIALS_2014=${TRIALS_2014:-30}
CLAIM_TRIALS=${CLAIM_TRIALS:-10}
DRAIN_TRIALS=${DRAIN_TRIALS:-10}
DRAIN_DURATION=${DRAIN_DURATION:-10s}
PARTS=${PARTS:-repro observers remedies sockopts sweeps lobby diagnose servers jetstream watch}
TRIALS_OBS=${TRIALS_OBS:-300}

cargo build --release --quiet
zw=target/release/zerowin
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
off=(--sample off --no-capture --no-kernel-events)

run() { # file name, then zerowin arguments
  local name=$1; shift
  "$zw" run "$@" --quiet --json "$out/$name.json" >/dev/null || true
}

rotate() { # arm names: TRIALS_4K / CHUNK cycles of `arm NAME CHUNK`, the order rotating
  local arms=("$@")
  echo "== repro-4k: $TRIALS_4K trials each of: ${arms[*]} (chunks of $CHUNK, order rotating)" >&2
  for ((i = 0; i < TRIALS_4K / CHUNK; i++)); do
    for ((j = 0; j < ${#arms[@]}; j++)); do
      arm "${arms[(i + j) % ${#arms[@]}]}" "$i"
    done
  done
}

repro() {
# Arms: netns without observers (twice: "null" is a second, identical arm, whose
# difference from "off" is the noise floor), netns with the default observers
# (counters, the kernel's tracepoints, TCP_INFO sampling at the scenario's 1 ms after
# the first 10 ms), netns with the capture alone,
# and host mode. The order rotates every cycle, so that each arm runs in each position
# (after each other arm) equally often: a fixed order let one arm inherit the
# previous arm's aftermath (the kernel tears namespaces down asynchronously) and made
# two identical arms differ by 25%.
arm() { # name, chunk index
  case $1 in
    off | null) run "$1-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns "${off[@]}" ;;
    on) run "on-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns ;;
    wire) run "wire-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns --sample off --no-kernel-events --capture ;;
    host) run "host-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation host "${off[@]}" ;;
  esac
}
rotate off on null wire host
echo "== repro-2014: $TRIALS_2014 trials (default buffers), in chunks of $CHUNK" >&2
for ((i = 0; i < TRIALS_2014 / CHUNK; i++)); do
  run "r2014-$i" scenarios/repro-2014.toml --trials "$CHUNK" "${off[@]}"
done
# The claims the docs make about the kernel, checked again on every run.
echo "== claims: $CLAIM_TRIALS trials each of zero-window (observed), drain-slow-batch, shutdown-drain" >&2
run claim-zw scenarios/zero-window.toml --trials "$CLAIM_TRIALS"
run claim-batch scenarios/drain-slow-batch.toml --trials "$CLAIM_TRIALS" "${off[@]}"
run claim-sd scenarios/shutdown-drain.toml --trials "$CLAIM_TRIALS" "${off[@]}"
echo "== drain-survives: $DRAIN_TRIALS trials of $DRAIN_DURATION" >&2
run drain scenarios/drain-survives.toml --trials "$DRAIN_TRIALS" --duration "$DRAIN_DURATION" "${off[@]}"

python3 scripts/bench_summary.py "$out"
}

# The observers' effect on the race (scripts/bench_observers.py says how it is read):
# repro-4k with no observer (off, and again as the null arm: the noise floor), the
# default ones (counters, kernel tracepoints, TCP_INFO after the first 10 ms), the
# capture on top, and the capture with tcp_probe; TRIALS_OBS trials an arm, in chunks
# whose order rotates.
observers() {
  arm() { # name, chunk index
    case $1 in
      off | null) run "obs-$1-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns "${off[@]}" ;;
      default) run "obs-default-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns ;;
      capture) run "obs-capture-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns --capture ;;
      probe) run "obs-probe-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns --capture --tcp-probe ;;
    esac
  }
  TRIALS_4K=$TRIALS_OBS rotate off default capture probe null
  python3 scripts/bench_observers.py "$out"
}

# `zerowin watch` on a busy host: resets a second until it loses events, and its CPU
# (scripts/bench_watch.py says how).
watch() {
  python3 scripts/bench_watch.py "$zw"
}

# The remedies: the spool's throughput, spilling per fsync policy, crash cycles and
# recovery (scripts/bench_spool.py says how each is measured).
remedies() {
  python3 scripts/bench_spool.py "$zw"
}

# The socket options on two hosts: the veth topology's cost, the keepalive and the
# call-timeout timing errors (scripts/bench_sockopts.py says how each is measured).
sockopts() {
  python3 scripts/bench_sockopts.py "$zw"
}

# The shipped sweeps' run time, and the model's error per cell (scripts/bench_sweeps.py
# says how each is measured).
sweeps() {
  python3 scripts/bench_sweeps.py "$zw"
}

# The framed senders' lobby: the sender's memory under 1,000 silent connections and
# 1,000 that trickle a byte a second, and a real client's wait meanwhile
# (scripts/bench_lobby.py says how each is measured).
lobby() {
  python3 scripts/bench_lobby.py "$zw"
}

# diagnose on a generated capture of DIAGNOSE_MB (1000) MB against tshark's conv,tcp
# (scripts/bench_diagnose.py says how it is made and measured).
diagnose() {
  python3 scripts/bench_diagnose.py "$zw" "${DIAGNOSE_MB:-1000}"
}

# The servers' table of docs/servers.md: the gallery and the scenarios beside it in one
# run, then zerowin's own senders' memory (scripts/bench_servers.py says how).
servers() {
  "$zw" run --quiet --export-json "$out/servers.json" scenarios/server-*.toml \
    scenarios/repro-2014.toml scenarios/drain-survives.toml scenarios/spike-patient.toml \
    scenarios/spike-spool.toml >/dev/null || true
  python3 scripts/bench_servers.py "$zw" "$out/servers.json"
}

# The spool on NATS JetStream beside redb: spilling, delivering, restarting
# (scripts/bench_jetstream.py says how).
jetstream() {
  python3 scripts/bench_jetstream.py "$zw"
}

# repro-4k with this build and with BASELINE's, side by side in one run: the arms
# alternate in chunks (order rotating), each with and without the default observers,
# and a second arm of this build ("null") gives the noise floor.
baseline() {
  : "${BASELINE:?set BASELINE to the commit to compare with}"
  tree="$out/baseline" # global: the EXIT trap runs after this function returns
  git worktree add --detach --quiet "$tree" "$BASELINE"
  trap 'git worktree remove --force "$tree" 2>/dev/null; rm -rf "$out"' EXIT
  echo "== building $BASELINE" >&2
  (cd "$tree" && CARGO_TARGET_DIR="$tree/target" cargo build --release --quiet)
  local base="$tree/target/release/zerowin"
  arm() { # name, chunk index
    case $1 in
      new | null) run "$1-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns "${off[@]}" ;;
      new_on) run "$1-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns ;;
      base) zw=$base run "$1-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns "${off[@]}" ;;
      base_on) zw=$base run "$1-$2" scenarios/repro-4k.toml --trials "$CHUNK" --isolation netns ;;
    esac
  }
  rotate new base null new_on base_on
  python3 scripts/bench_baseline.py "$out" "$BASELINE"
}

for part in $PARTS; do
  "$part"
done
