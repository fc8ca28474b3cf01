#!/usr/bin/env python3
"""Reads the JSON exports scripts/bench.sh leaves in one directory and prints the
figures docs/benchmarks.md quotes: medians, counts, distributions and intervals from one run,
each next to its goal.

Intervals come from a block bootstrap: each arm's chunks (one zerowin run each, the
unit the arms alternate in) are resampled with replacement, so the drift between
chunks is part of the interval, as it should be. Only documented export fields are
read: scenarios[].trials[] with outcome, time_to_failure_us, trial_us, active_us,
bytes_read, bytes_lost, read_mb_s, sent_mb_s, sender_summary.sndbuf_effective,
client.postmortem.recv_end, client.errors, and observation's counters (story, other),
wire (per-direction rsts, fins, zero_windows) and events."""
import glob
import json
import os
import random
import statistics
import sys

RESAMPLES = 2000
rng = random.Random(2014)


def chunks(d, name):
    """Every chunk (one export) of the arm NAME, as a list of its trials."""
    paths = sorted(glob.glob(os.path.join(d, name + ".json")) + glob.glob(os.path.join(d, name + "-*.json")))
    out = []
    for path in paths:
        with open(path) as f:
            out.append([t for s in json.load(f)["scenarios"] for t in s["trials"]])
    return [c for c in out if c]


def flat(cs):
    return [t for c in cs for t in c]


def t_fail(ts):
    return [t["time_to_failure_us"] / 1000 for t in ts if t["time_to_failure_us"] is not None]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ratio_interval(arm, base):
    """The ratio of median times to failure, arm / base, and its 95% interval from
    resampling whole chunks of each arm."""
    point = med(t_fail(flat(arm))) / med(t_fail(flat(base)))
    rs = []
    for _ in range(RESAMPLES):
        a = flat(rng.choices(arm, k=len(arm)))
        b = flat(rng.choices(base, k=len(base)))
        rs.append(med(t_fail(a)) / med(t_fail(b)))
    rs.sort()
    return point, rs[int(0.025 * RESAMPLES)], rs[int(0.975 * RESAMPLES) - 1]


def route_share(ts):
    """The share of trials that reached the RST by FIN then data (TCPAbortOnData)."""
    data = sum(1 for t in ts if story(t).get("TCPAbortOnData"))
    return data / len(ts) if ts else float("nan")


def share_interval(cs):
    point = route_share(flat(cs))
    rs = sorted(route_share(flat(rng.choices(cs, k=len(cs)))) for _ in range(RESAMPLES))
    return point, rs[int(0.025 * RESAMPLES)], rs[int(0.975 * RESAMPLES) - 1]


def story(t):
    return ((t.get("observation") or {}).get("counters") or {}).get("story", {})


def routes(ts):
    n = {"close": 0, "data": 0}
    for t in ts:
        c = story(t)
        if c.get("TCPAbortOnClose"):
            n["close"] += 1
        elif c.get("TCPAbortOnData"):
            n["data"] += 1
    return f"{n['close']} RST at close, {n['data']} FIN then RST on data (of {len(ts)})"


def goal(ok):
    return "goal met" if ok else "GOAL MISSED"


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(-(-p * len(s) // 100)) - 1))]


def observers(d, off):
    null, on, wire = chunks(d, "null"), chunks(d, "on"), chunks(d, "wire")
    print(f"observers    {len(off)} chunks of {len(off[0])} trials per arm; ratio = median t_reset of the arm / of 'off', 95% interval from {RESAMPLES} chunk resamples")
    n_pt, n_lo, n_hi = ratio_interval(null, off)
    print(f"observers    null (off again)        {n_pt:.3f}  [{n_lo:.3f}, {n_hi:.3f}]   the noise floor")
    for name, arm in (("on (the default observers)", on), ("capture only", wire)):
        pt, lo, hi = ratio_interval(arm, off)
        inside = n_lo <= pt <= n_hi
        effect = "its own interval holds 1: no effect seen" if lo <= 1 <= hi else "its own interval excludes 1: an effect"
        print(f"observers    {name:<22}  {pt:.3f}  [{lo:.3f}, {hi:.3f}]   ({goal(inside)}: inside the null arm's interval; {effect})")
    s_lo, s_hi = share_interval(null)[1:]
    for name, arm in (("off", off), ("null", null), ("on", on), ("capture only", wire)):
        pt, lo, hi = share_interval(arm)
        judged = f"   ({goal(s_lo <= pt <= s_hi)}: inside null's interval)" if arm in (on, wire) else ""
        print(f"routes       {name:<13} FIN-then-data share {pt:.0%} [{lo:.0%}, {hi:.0%}]   {routes(flat(arm))}{judged}")
    o = flat(on)
    print(f"observers    median trial on/off    {med([t['trial_us'] / 1000 for t in o]):.2f} / {med([t['trial_us'] / 1000 for t in flat(off)]):.2f} ms")


def counter(t, name):
    c = (t.get("observation") or {}).get("counters") or {}
    return c.get("story", {}).get(name, c.get("other", {}).get(name, 0))


def wire(t):
    return (t.get("observation") or {}).get("wire")


def held(label, ts, ok):
    n = sum(1 for t in ts if ok(t))
    print(f"claims       {label:<52} {n}/{len(ts)}")


def claims(d, observed, plain):
    """The kernel facts the docs state, counted over this run's trials."""
    aborts = ("TCPAbortOnClose", "TCPAbortOnData", "TCPAbortOnLinger", "TCPAbortOnTimeout")
    resets = [t for t in plain if t["outcome"] == "reset"]
    pm = [t for t in resets if (t["client"].get("postmortem") or {}).get("recv_end")]
    held("recv() after the RST ends in EOF, not ENOTCONN", pm,
         lambda t: t["client"]["postmortem"]["recv_end"]["value"] == 0)
    held("no recv() ever failed with ENOTCONN", resets,
         lambda t: not any(e["call"] == "recv" and e["name"] == "ENOTCONN" for e in t["client"]["errors"]))
    held("exactly one abort counter moved (reset trials)", resets,
         lambda t: sum(1 for a in aborts if counter(t, a)) == 1)
    cap = [t for t in observed if wire(t)]
    held("Tcp.OutRsts == RSTs on the wire (captured trials)", cap,
         lambda t: counter(t, "Tcp.OutRsts") == wire(t)["from_sender"]["rsts"] + wire(t)["from_client"]["rsts"])
    held("zero window on the wire iff ToZeroWindowAdv or RcvQDrop", cap,
         lambda t: (wire(t)["from_client"]["zero_windows"] > 0)
         == (counter(t, "TCPToZeroWindowAdv") > 0 or counter(t, "TCPRcvQDrop") > 0))
    held("sender close <= RST <= client error (captured resets)", [t for t in cap if t["outcome"] == "reset"],
         lambda t: t["observation"]["events"]["sender_close_us"] <= t["observation"]["events"]["rst_us"]
         <= t["observation"]["events"]["client_first_error_us"])
    zw = flat(chunks(d, "claim-zw"))
    held("zero-window: zero window < send() failed <= close <= RST <= error", zw,
         lambda t: (e := t["observation"]["events"])["first_zero_window_us"] is not None
         and e["first_zero_window_us"] < e["sender_send_failed_us"] <= e["sender_close_us"]
         <= e["rst_us"] <= e["client_first_error_us"])
    batch = flat(chunks(d, "claim-batch"))
    held("drain-slow-batch: reset by FIN then RST on data", batch,
         lambda t: t["outcome"] == "reset" and counter(t, "TCPAbortOnData") == 1)
    sd = flat(chunks(d, "claim-sd"))
    held("shutdown-drain: eof, 0 B lost, no abort counter", sd,
         lambda t: t["outcome"] == "eof" and t["bytes_lost"] == 0 and not any(counter(t, a) for a in aborts))


def main(d):
    off = chunks(d, "off")
    r = flat(off)
    resets = sum(t["outcome"] == "reset" for t in r)
    tf = med(t_fail(r))
    tt = med([t["trial_us"] / 1000 for t in r])
    print(f"repro-4k     resets                 {resets}/{len(r)}   ({goal(resets == len(r))}: all)")
    print(f"repro-4k     median t_reset         {tf:.2f} ms   ({goal(tf < 50)}: < 50 ms)")
    print(f"repro-4k     median trial           {tt:.2f} ms   ({goal(tt < 100)}: < 100 ms, sender start to teardown)")
    lost = [t["bytes_lost"] for t in r if t["bytes_lost"] is not None]
    sndbuf = {t["sender_summary"]["sndbuf_effective"] for t in r if t.get("sender_summary")}
    print(f"repro-4k     bytes lost             min {min(lost)}, p10 {pct(lost, 10)}, median {med(lost):.0f}, p90 {pct(lost, 90)}, max {max(lost)} B (send buffer {sorted(sndbuf)} B)")
    bands = [(0, 1), (1, 2048), (2048, 5000), (5000, 7000), (7000, 1 << 30)]
    print("repro-4k     bytes lost by band     " + ", ".join(f"[{lo},{hi}): {sum(lo <= x < hi for x in lost)}" for lo, hi in bands))

    observers(d, off)

    h = flat(chunks(d, "host"))
    ht = med([t["trial_us"] / 1000 for t in h])
    print(f"isolation    median trial netns/host {tt:.2f} / {ht:.2f} ms = {tt - ht:+.2f} ms per trial   ({goal(tt - ht < 10)}: < 10 ms)")

    r14 = flat(chunks(d, "r2014"))
    t14 = t_fail(r14)
    print(f"repro-2014   outcomes               {sum(t['outcome'] == 'reset' for t in r14)}/{len(r14)} reset")
    print(f"repro-2014   time to reset          median {med(t14):.0f} ms, p10 {pct(t14, 10):.0f}, p90 {pct(t14, 90):.0f}, range {min(t14):.0f}-{max(t14):.0f} ms ({len(t14)} trials)")
    l14 = [t["bytes_lost"] for t in r14 if t["bytes_lost"] is not None]
    sb14 = [t["sender_summary"]["sndbuf_effective"] for t in r14 if t.get("sender_summary")]
    pm14 = [t["client"]["postmortem"]["recv_bytes"] for t in r14 if t["client"].get("postmortem")]
    print(f"repro-2014   bytes lost             median {med(l14):.0f}, range {min(l14)}-{max(l14)} B; send buffer (autotuned) median {med(sb14):.0f} B")
    print(f"repro-2014   recv() after the RST   median {med(pm14):.0f} B still read, max {max(pm14)} B")

    observed = flat(chunks(d, "on")) + flat(chunks(d, "wire"))
    claims(d, observed, r + flat(chunks(d, "null")) + r14)

    dr = flat(chunks(d, "drain"))
    survived = sum(t["outcome"] == "survived" for t in dr)
    secs = med([t["active_us"] for t in dr]) / 1e6
    read = med([t["read_mb_s"] for t in dr])
    sent = med([t["sent_mb_s"] for t in dr if t["sent_mb_s"] is not None])
    msgs = med([t["bytes_read"] for t in dr]) / 13 / secs
    print(f"drain        survived               {survived}/{len(dr)} of {secs:.1f} s   ({goal(survived == len(dr))}: all)")
    print(f"drain        median MB/s sent       {sent:.2f}   (the sender's full rate, 13-byte sendmsg() calls)")
    print(f"drain        median MB/s read       {read:.2f}   ({msgs / 1e6:.2f} M messages/s)")


if __name__ == "__main__":
    main(sys.argv[1])
