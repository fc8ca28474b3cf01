#!/usr/bin/env python3
"""Reads the JSON exports scripts/bench.sh leaves in one directory and prints the
figures README quotes: medians and counts from one run, each next to its goal."""
import glob
import json
import os
import statistics
import sys


def trials(d, name):
    """Every trial of the exports named NAME.json or NAME-<chunk>.json."""
    out = []
    for path in sorted(glob.glob(os.path.join(d, name + ".json")) + glob.glob(os.path.join(d, name + "-*.json"))):
        with open(path) as f:
            out += [t for s in json.load(f)["scenarios"] for t in s["trials"]]
    return out


def routes(ts):
    """How many trials reached the RST by each route, from the isolated counters."""
    n = {"close": 0, "data": 0}
    for t in ts:
        c = ((t.get("observation") or {}).get("counters") or {}).get("story", {})
        if c.get("TCPAbortOnClose"):
            n["close"] += 1
        elif c.get("TCPAbortOnData"):
            n["data"] += 1
    return f"{n['close']} RST at close (unread replies), {n['data']} FIN then RST on later data"


def goal(ok):
    return "goal met" if ok else "GOAL MISSED"


def med(ts, key):
    return statistics.median(t[key] for t in ts if t[key] is not None)


def main(d):
    r = trials(d, "off")
    resets = sum(t["outcome"] == "reset" for t in r)
    t_fail = med(r, "time_to_failure_us") / 1000
    t_trial = med(r, "trial_us") / 1000
    print(f"repro-4k     resets                 {resets}/{len(r)}   ({goal(resets == len(r))}: all)")
    print(f"repro-4k     median t_reset         {t_fail:.2f} ms   ({goal(t_fail < 50)}: < 50 ms)")
    print(f"repro-4k     median trial           {t_trial:.2f} ms   ({goal(t_trial < 100)}: < 100 ms, sender start to teardown)")

    n = trials(d, "null")
    n_fail = med(n, "time_to_failure_us") / 1000
    o = trials(d, "on")
    o_fail = med(o, "time_to_failure_us") / 1000
    o_trial = med(o, "trial_us") / 1000
    effect = (o_fail - t_fail) / t_fail * 100
    print(f"observers    median t_reset on/off  {o_fail:.2f} / {t_fail:.2f} ms = {effect:+.1f}%   ({goal(abs(effect) <= 10)}: within 10%; 1 ms sampling + capture)")
    print(f"observers    noise floor            {n_fail:.2f} / {t_fail:.2f} ms = {(n_fail - t_fail) / t_fail * 100:+.1f}%   (two identical arms, observers off)")
    print(f"observers    median trial on/off    {o_trial:.2f} / {t_trial:.2f} ms")
    resets_o = sum(t["outcome"] == "reset" for t in o)
    print(f"observers    resets with them on    {resets_o}/{len(o)}")
    print(f"routes       observers off          {routes(r)}")
    print(f"routes       observers on           {routes(o)}")

    h = trials(d, "host")
    h_trial = med(h, "trial_us") / 1000
    print(f"isolation    median trial netns/host {t_trial:.2f} / {h_trial:.2f} ms = {t_trial - h_trial:+.2f} ms per trial   ({goal(t_trial - h_trial < 10)}: < 10 ms)")

    dr = trials(d, "drain")
    survived = sum(t["outcome"] == "survived" for t in dr)
    secs = med(dr, "active_us") / 1e6
    read = med(dr, "read_mb_s")
    sent = med(dr, "sent_mb_s")
    msgs = med(dr, "bytes_read") / 13 / secs
    print(f"drain        survived               {survived}/{len(dr)} of {secs:.1f} s   ({goal(survived == len(dr))}: all)")
    print(f"drain        median MB/s sent       {sent:.2f}   (the sender's full rate, 13-byte sendmsg() calls)")
    print(f"drain        median MB/s read       {read:.2f}   ({msgs / 1e6:.2f} M messages/s)")


if __name__ == "__main__":
    main(sys.argv[1])
