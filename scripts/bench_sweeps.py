#!/usr/bin/env python3
"""The sweeps' benchmarks (docs/benchmarks.md, sweeps): run by scripts/bench.sh.

Prints one block of figures; never asserts a goal, only reports it.

1. The shipped sweeps (sweep-buffers, sweep-delay, sweep-remedies) with their default
   trial counts, as `zerowin run` runs them (observers on, the model calibrated where
   the file asks): the wall time of each, and of all three. Goal: under 2 minutes.
2. The model's error table, per cell: for every cell the model covers, from the
   shipped sweeps' run and from a finer buffer sweep (sender.sndbuf 4 KiB to 1 MiB,
   times 4) and a finer delay sweep (naive at 1 to 10 ms): the predicted and the
   observed survival, the predicted and the observed median time to failure, and the
   error. Goals: |error| within 25%, survival right in at least 95% of the cells.

Each cell's figures come from its own trials and its own calibration runs; nothing is
fitted to the trials it predicts.

Usage: bench_sweeps.py ZEROWIN_EXE  (env: FINE_TRIALS, default 5)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ZW = sys.argv[1]
FINE_TRIALS = os.environ.get("FINE_TRIALS", "5")
TMP = tempfile.mkdtemp(prefix="zerowin-bench-sweeps-")


def run(name, *args):
    """Runs zerowin with a JSON export; returns (the document, seconds)."""
    path = os.path.join(TMP, name + ".json")
    t0 = time.monotonic()
    subprocess.run(
        [ZW, "run", *args, "--quiet", "--export-json", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    took = time.monotonic() - t0
    with open(path) as f:
        return json.load(f), took


def rows(doc, label):
    out = []
    for sc in doc["scenarios"]:
        m = sc["summary"].get("model")
        if not m or m["forecast"]["kind"] != "predicted":
            continue
        p, k = m["forecast"], m["check"]
        ttf = sc["summary"].get("time_to_failure") or {}
        cell = ", ".join(f"{key.split('.')[-1]}={v}" for key, v in sc["params"].items() if key in sc["swept"])
        out.append(
            {
                "sweep": label,
                "cell": cell,
                "trials": sc["summary"]["trials"],
                "pred": "survives" if p["survives"] else f"{p['time_to_failure_ms']:.1f} ms",
                "obs": "survives" if k["observed_survives"] else f"{ttf.get('median_ms') or 0:.1f} ms",
                "error": k["error"],
                "right": k["survival_right"],
            }
        )
    return out


def main():
    print("== sweeps: the shipped sweeps at their default trials", flush=True)
    times = {}
    table = []
    for name in ["sweep-buffers", "sweep-delay", "sweep-remedies"]:
        doc, took = run(name, f"scenarios/{name}.toml")
        times[name] = took
        table += rows(doc, name)
        print(f"  {name:<16} {took:6.1f} s  ({len(doc['scenarios'])} cells)")
    total = sum(times.values())
    print(f"  all three        {total:6.1f} s  (goal: under 120 s): {'met' if total < 120 else 'NOT met'}")

    doc, _ = run(
        "fine-buffers",
        "scenarios/sweep-buffers.toml",
        "--sweep",
        "sender.sndbuf=4096..1048576:x4",
        "--trials",
        FINE_TRIALS,
    )
    table += rows(doc, "buffers x4")
    doc, _ = run(
        "fine-delay",
        "scenarios/sweep-delay.toml",
        "--sweep",
        "client.strategy=naive",
        "--sweep",
        "client.delay=1ms,2ms,3ms,5ms,10ms",
        "--set",
        "expect.outcome=reset",
        "--trials",
        FINE_TRIALS,
    )
    table += rows(doc, "naive delay")

    print("== model: predicted against observed, per cell")
    print(f"  {'sweep':<14} {'cell':<24} {'n':>3} {'predicted':>12} {'observed':>12} {'error':>7}")
    for r in table:
        err = "right" if r["error"] is None and r["right"] else ("WRONG" if not r["right"] else f"{r['error'] * 100:+.0f}%")
        print(f"  {r['sweep']:<14} {r['cell']:<24} {r['trials']:>3} {r['pred']:>12} {r['obs']:>12} {err:>7}")
    errs = [abs(r["error"]) for r in table if r["error"] is not None]
    right = sum(1 for r in table if r["right"])
    within = sum(1 for e in errs if e <= 0.25)
    print(f"  survival right in {right} of {len(table)} cells (goal: 95%): {'met' if right >= 0.95 * len(table) else 'NOT met'}")
    if errs:
        print(
            f"  |error| of T: median {statistics.median(errs) * 100:.0f}%, max {max(errs) * 100:.0f}%; "
            f"{within} of {len(errs)} cells within 25% (goal: all): {'met' if within == len(errs) else 'NOT met'}"
        )


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
