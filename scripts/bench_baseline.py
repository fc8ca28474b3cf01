#!/usr/bin/env python3
"""The side-by-side part of scripts/bench.sh (PARTS=baseline): repro-4k with this
build ("new", and "null", a second identical arm: the noise floor) and with another
commit's build ("base"), each also with the default observers ("new_on", "base_on").
For each arm it prints the trials, the median whole trial (trial_us) and the median
time to reset; then the ratios new/base, null/new and new_on/base_on of both medians,
each with a 95% interval from resampling whole chunks (one zerowin run each, the unit
the arms alternate in), so that drift between chunks is inside the interval.

Usage: bench_baseline.py DIR COMMIT"""
import statistics
import sys

from bench_summary import chunks, flat, med, rng

RESAMPLES = 2000


def trial_ms(ts):
    return [t["trial_us"] / 1000 for t in ts]


def fail_ms(ts):
    return [t["time_to_failure_us"] / 1000 for t in ts if t["time_to_failure_us"] is not None]


def ratio(a, b, f):
    point = med(f(flat(a))) / med(f(flat(b)))
    rs = sorted(
        med(f(flat(rng.choices(a, k=len(a))))) / med(f(flat(rng.choices(b, k=len(b)))))
        for _ in range(RESAMPLES)
    )
    return point, rs[int(0.025 * RESAMPLES)], rs[int(0.975 * RESAMPLES) - 1]


def main():
    d, commit = sys.argv[1], sys.argv[2]
    arms = {n: chunks(d, n) for n in ["new", "base", "null", "new_on", "base_on"]}
    print(f"repro-4k, this build against {commit}, side by side (chunks of one zerowin run)")
    print(f"{'arm':<8} {'trials':>6} {'resets':>6} {'median trial':>13} {'median reset':>13}")
    for n, cs in arms.items():
        ts = flat(cs)
        resets = sum(1 for t in ts if t["outcome"] == "reset")
        print(
            f"{n:<8} {len(ts):>6} {resets:>6} {med(trial_ms(ts)):>10.2f} ms {med(fail_ms(ts)):>10.3f} ms"
        )
    for a, b in [("new", "base"), ("null", "new"), ("new_on", "base_on")]:
        if not arms[a] or not arms[b]:
            continue
        for what, f in [("whole trial", trial_ms), ("time to reset", fail_ms)]:
            p, lo, hi = ratio(arms[a], arms[b], f)
            print(f"{a}/{b} median {what}: {p:.3f} [{lo:.3f}, {hi:.3f}]")


if __name__ == "__main__":
    main()
