#!/usr/bin/env python3
"""Reads the JSON exports of scripts/bench.sh and prints the figures README quotes:
medians and counts from one run, each next to its goal."""
import json
import statistics
import sys


def trials(path):
    with open(path) as f:
        return [t for s in json.load(f)["scenarios"] for t in s["trials"]]


def goal(ok):
    return "goal met" if ok else "GOAL MISSED"


def main(repro_path, drain_path):
    r = trials(repro_path)
    resets = sum(t["outcome"] == "reset" for t in r)
    t_fail = statistics.median(t["time_to_failure_us"] for t in r if t["time_to_failure_us"] is not None) / 1000
    t_trial = statistics.median(t["trial_us"] for t in r) / 1000
    print(f"repro-4k     resets            {resets}/{len(r)}   ({goal(resets == len(r))}: all)")
    print(f"repro-4k     median t_reset    {t_fail:.2f} ms   ({goal(t_fail < 50)}: < 50 ms)")
    print(f"repro-4k     median trial      {t_trial:.2f} ms   ({goal(t_trial < 100)}: < 100 ms, sender start to teardown)")

    d = trials(drain_path)
    survived = sum(t["outcome"] == "survived" for t in d)
    secs = statistics.median(t["active_us"] for t in d) / 1e6
    read = statistics.median(t["read_mb_s"] for t in d)
    sent = statistics.median(t["sent_mb_s"] for t in d if t["sent_mb_s"] is not None)
    msgs = statistics.median(t["bytes_read"] for t in d) / 13 / secs
    print(f"drain        survived          {survived}/{len(d)} of {secs:.1f} s   ({goal(survived == len(d))}: all)")
    print(f"drain        median MB/s sent  {sent:.2f}   (the sender's full rate, 13-byte sendmsg() calls)")
    print(f"drain        median MB/s read  {read:.2f}   ({msgs / 1e6:.2f} M messages/s)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
