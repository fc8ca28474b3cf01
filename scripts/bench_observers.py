#!/usr/bin/env python3
"""The observers' effect on repro-4k's race, from the exports of scripts/bench.sh's
`observers` part: five arms of TRIALS_OBS trials, in chunks (one zerowin run each)
whose order rotates, so drift falls on every arm alike.

  off      no observer: --sample off --no-capture --no-kernel-events
  null     off again: its difference from off is the noise floor
  default  what a run does unless told otherwise: counters, the kernel's tracepoints
           (resets, state changes, retransmits), TCP_INFO sampling after the first 10 ms
  capture  the default and the packet capture (--capture)
  probe    the capture and tcp:tcp_probe, every segment (--capture --tcp-probe)

For each arm: the ratio of its median time to reset to off's, and the share of
trials that took the FIN-then-data route (TCPAbortOnData moved: the counters are in
every arm, so every arm is judged by the same instrument), each with a 95% interval
from resampling whole chunks. The goal: the default's ratio and route share lie
inside the null arm's intervals. Reported either way, never asserted."""
import sys

from bench_summary import chunks, flat, med, ratio_interval, share_interval, t_fail

ARMS = ["off", "null", "default", "capture", "probe"]


def main():
    d = sys.argv[1]
    arms = {a: chunks(d, "obs-" + a) for a in ARMS}
    if any(not arms[a] for a in ARMS):
        print("observers: missing arms:", [a for a in ARMS if not arms[a]])
        return
    off = arms["off"]
    n = len(flat(off))
    print(f"observers    repro-4k, {n} trials an arm in chunks of {len(off[0])}, order rotating")
    s, s_lo, s_hi = share_interval(off)
    print(f"observers    off: median time to reset {med(t_fail(flat(off))):.2f} ms, FIN-route share {s:.0%} [{s_lo:.0%}, {s_hi:.0%}]")
    null_r = ratio_interval(arms["null"], off)
    null_s = share_interval(arms["null"])
    for a in ARMS[1:]:
        r, lo, hi = ratio_interval(arms[a], off)
        s, s_lo, s_hi = share_interval(arms[a])
        resets = sum(1 for t in flat(arms[a]) if t["outcome"] == "reset")
        print(
            f"observers    {a:<8} ratio to off {r:.3f} [{lo:.3f}, {hi:.3f}]   "
            f"FIN-route share {s:.0%} [{s_lo:.0%}, {s_hi:.0%}]   {resets}/{len(flat(arms[a]))} reset"
        )
    r = ratio_interval(arms["default"], off)[0]
    s = share_interval(arms["default"])[0]
    inside_r = null_r[1] <= r <= null_r[2]
    inside_s = null_s[1] <= s <= null_s[2]
    print(
        f"observers    goal: the default inside the null arm's intervals: ratio {r:.3f} in "
        f"[{null_r[1]:.3f}, {null_r[2]:.3f}]: {'met' if inside_r else 'NOT met'}; "
        f"route share {s:.0%} in [{null_s[1]:.0%}, {null_s[2]:.0%}]: {'met' if inside_s else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
