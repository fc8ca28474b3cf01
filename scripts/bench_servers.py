#!/usr/bin/env python3
"""The servers' table of docs/servers.md, from one run: each cell of the gallery
(scenarios/server-*.toml) and of the 2014 and remedy scenarios beside it, with its
outcomes, the median time to the end, what the client read, the server's peak memory
and its growth from ready to peak (sampled from /proc every 20 ms, per trial), and,
for a counting client, its messages. Then the peak memory of zerowin's own senders,
which a run does not sample: /usr/bin/time -v around `zerowin serve` (the process and
its largest child), with `zerowin client` reading as in the scenarios named.
Usage: bench_servers.py ZEROWIN JSON (the export of the run)."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def cells(path):
    for sc in json.load(open(path))["scenarios"]:
        label = sc["name"] + "".join(f" [{k}={v}]" for k, v in sc["params"].items())
        yield label, sc["trials"]


def growth(p):
    ready = p.get("ready_ns") or 0
    after = [x for x in p["rss"] if x[0] >= ready] or p["rss"]
    return (p["peak_rss_bytes"] - after[0][1]) / 1e6


def row(label, trials):
    outcomes = {}
    for t in trials:
        outcomes[t["outcome"]] = outcomes.get(t["outcome"], 0) + 1
    ends = [t["time_to_failure_us"] / 1000 for t in trials if t["time_to_failure_us"] is not None]
    mb = lambda v: ", ".join(f"{x:.1f}" for x in v)
    progs = [t["sender_program"] for t in trials if t.get("sender_program") and t["sender_program"].get("peak_rss_bytes")]
    read = [t["bytes_read"] for t in trials if t["bytes_read"] is not None]
    msgs = [t["messages"] for t in trials if t.get("messages")]
    out = f"{label}: n={len(trials)} {outcomes}"
    out += f"; end {statistics.median(ends):.0f} ms" if ends else "; end -"
    out += f"; read {', '.join(str(r) for r in read)} B" if read else ""
    if progs:
        out += f"; peak RSS {mb(p['peak_rss_bytes'] / 1e6 for p in progs)} MB (growth {mb(growth(p) for p in progs)})"
    for m in msgs:
        out += f"; delivered {m['delivered']} lost {m['lost']} dup {m['duplicates']} reordered {m['reordered']}"
    return out


def own_rss(zw):
    """Peak RSS of zerowin's own senders under /usr/bin/time -v, 2 runs each."""
    runs = [
        ("original", ["--sender", "original"], ["naive", "--duration", "3s"]),
        ("patient", ["--sender", "patient", "--set", 'phases=["1s unlimited"]', "--set", "rate=2000/s",
                     "--set", "queue_bytes=67108864", "--set", "on_full=block"], ["resume", "--duration", "3s"]),
        ("spool", ["--sender", "spool", "--set", 'phases=["1s unlimited"]', "--set", "rate=2000/s",
                   "--set", "queue_bytes=1048576", "--set", "fsync=batch"], ["resume", "--duration", "6s"]),
    ]
    for name, serve, client in runs:
        peaks = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as d:
                extra = ["--set", f"spool_dir={d}/spool"] if name == "spool" else []
                timing = os.path.join(d, "time")
                s = subprocess.Popen(["/usr/bin/time", "-v", "-o", timing, zw, "serve", "--port", "0",
                                      "--bind", "127.0.0.1", *serve, *extra],
                                     stdout=subprocess.PIPE, text=True)
                line = s.stdout.readline()
                port = line.split()[-1]
                c = subprocess.run([zw, "client", *client[:1], "--connect", f"127.0.0.1:{port}", *client[1:]],
                                   capture_output=True, text=True, timeout=60)
                time.sleep(0.3)
                subprocess.run(["pkill", "-TERM", "-P", str(s.pid)])
                s.wait(timeout=10)
                kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(timing).read())
                outcome = next((l.split()[1] for l in c.stdout.splitlines() if l.startswith(" 1 ")), "?")
                peaks.append(f"{int(kb.group(1)) / 1000:.1f} MB ({outcome})")
        print(f"zerowin serve {name}: peak RSS {', '.join(peaks)}")


def main():
    zw, path = sys.argv[1], sys.argv[2]
    print("== the servers' table (docs/servers.md), one run")
    for label, trials in cells(path):
        print(row(label, trials))
    own_rss(zw)


if __name__ == "__main__":
    main()
