#!/usr/bin/env python3
"""The socket-options benchmarks (docs/benchmarks.md, socket options): run by
scripts/bench.sh. Prints one block of figures; never asserts a goal.

1. The veth topology's cost per trial: repro-4k on loopback and on veth (observers
   off), alternating in chunks. The cost of a trial outside the client's own run is
   its wall time minus its time to failure (setup: namespaces, pair, sender; and
   teardown); the figure is the difference of the medians, veth - loopback, with a
   95% interval from resampling whole chunks. Goal: under 2 ms added.
2. Keepalive timing error: keepalive-dead-peer; per trial |(abort - last segment from
   the sender) - (idle + interval x count)|, the median over the trials. Goal < 50 ms.
3. Call-timeout error: timeout-silent-peer; per trial |silence before the failure -
   recv_timeout|, the median. Goal < 20 ms.

Usage: bench_sockopts.py ZEROWIN_EXE  (env: VETH_TRIALS, CHUNK, KEEPALIVE_TRIALS, TIMEOUT_TRIALS)
"""
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile

ZW = sys.argv[1]
VETH_TRIALS = int(os.environ.get("VETH_TRIALS", "200"))
CHUNK = int(os.environ.get("CHUNK", "10"))
KA_TRIALS = int(os.environ.get("KEEPALIVE_TRIALS", "20"))
TO_TRIALS = int(os.environ.get("TIMEOUT_TRIALS", "20"))
TMP = tempfile.mkdtemp(prefix="zerowin-bench-")


def trials(path, n, *args):
    out = os.path.join(TMP, "out.json")
    subprocess.run([ZW, "run", path, "--trials", str(n), "--quiet", "--json", out, *args],
                   stdout=subprocess.DEVNULL, check=False)
    with open(out) as f:
        return json.load(f)["scenarios"][0]["trials"]


def overhead_ms(t):
    return (t["trial_us"] - (t["time_to_failure_us"] or 0)) / 1000


def veth_cost():
    base = open("scenarios/repro-4k.toml").read()
    veth = os.path.join(TMP, "repro-4k-veth.toml")
    with open(veth, "w") as f:
        f.write(base.replace("[run]", '[net]\ntopology = "veth"\n\n[run]', 1))
    chunks = {"loopback": [], "veth": []}
    for i in range(VETH_TRIALS // CHUNK):
        order = ["loopback", "veth"] if i % 2 == 0 else ["veth", "loopback"]
        for arm in order:
            path = "scenarios/repro-4k.toml" if arm == "loopback" else veth
            ts = trials(path, CHUNK, "--sample", "off", "--no-capture", "--isolation", "netns")
            chunks[arm].append([overhead_ms(t) for t in ts])
    med = {a: statistics.median([x for c in cs for x in c]) for a, cs in chunks.items()}
    rng = random.Random(1)
    diffs = []
    for _ in range(2000):
        pick = lambda cs: [x for c in (rng.choice(cs) for _ in cs) for x in c]
        diffs.append(statistics.median(pick(chunks["veth"])) - statistics.median(pick(chunks["loopback"])))
    diffs.sort()
    lo, hi = diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs)) - 1]
    n = sum(len(c) for c in chunks["veth"])
    d = med["veth"] - med["loopback"]
    print(f"veth cost: {n} trials per arm (repro-4k, observers off, chunks of {CHUNK}, alternating)")
    print(f"  setup + teardown per trial, median: loopback {med['loopback']:.2f} ms, veth {med['veth']:.2f} ms")
    print(f"  added by veth: {d:.2f} ms [95% {lo:.2f}, {hi:.2f}]; ratio {med['veth'] / med['loopback']:.2f}; "
          f"goal < 2 ms: {'met' if hi < 2 else 'met by the median only' if d < 2 else 'not met'}")


def keepalive_error():
    ts = trials("scenarios/keepalive-dead-peer.toml", KA_TRIALS)
    errs, outcomes = [], {}
    for t in ts:
        outcomes[t["outcome"]] = outcomes.get(t["outcome"], 0) + 1
        last = t["observation"]["events"]["last_from_sender_us"]
        if t["time_to_failure_us"] is not None and last is not None:
            errs.append(abs((t["time_to_failure_us"] - last) / 1000 - 4000))
    med = statistics.median(errs)
    print(f"keepalive timing error: {len(ts)} trials of keepalive-dead-peer (idle 1 s + 3 x 1 s = 4 s); outcomes {outcomes}")
    print(f"  |abort - last answer - 4 s|: median {med:.1f} ms, min {min(errs):.1f}, max {max(errs):.1f}; "
          f"goal < 50 ms: {'met' if med < 50 else 'not met'}")


def timeout_error():
    ts = trials("scenarios/timeout-silent-peer.toml", TO_TRIALS)
    errs = [abs(t["silence_before_failure_us"] / 1000 - 500) for t in ts if t["silence_before_failure_us"] is not None]
    med = statistics.median(errs)
    print(f"call-timeout error: {len(ts)} trials of timeout-silent-peer (recv_timeout 500 ms)")
    print(f"  |silence before the failure - 500 ms|: median {med:.2f} ms, min {min(errs):.2f}, max {max(errs):.2f}; "
          f"goal < 20 ms: {'met' if med < 20 else 'not met'}")


veth_cost()
timeout_error()
keepalive_error()
