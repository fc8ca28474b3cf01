#!/usr/bin/env python3
"""`zerowin watch` on a busy host: how many resets a second it reports before its
ring buffer loses events, and what CPU it takes.

A load generator (this file, run as `bench_watch.py --load RATE SECONDS PORT`) makes
refused connections on loopback: a non-blocking connect() to a port nothing listens
on, answered by the kernel with an RST (reason NO_SOCKET); each costs the tracepoints
three events (the client's SYN_SENT and CLOSE, and the RST). The load steps up, each
step STEP_S seconds, with one generator per core, until watch reports lost events or
the generators reach their own limit. For each step: the resets made, the resets
watch reported (on the generators' port only: it watches the whole host, no filter),
the events lost, and watch's CPU time over the step (utime + stime, /proc/PID/stat).
Reported, never asserted."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

STEP_S = 3.0
RATES = [1_000, 5_000, 10_000, 15_000, 20_000, 50_000, 100_000]


def load(rate, seconds, port):
    """Refused connects at `rate` a second for `seconds`; prints how many were made."""
    made = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        due = int((time.monotonic() - start) * rate)
        while made < due:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            s.close()
            made += 1
        time.sleep(0.001)
    print(made)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step(zw, rate, port, d):
    out = os.path.join(d, f"watch-{rate}.jsonl")
    w = subprocess.Popen([zw, "watch", "--json", out, "--duration", f"{STEP_S + 2}s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    c0 = cpu_s(w.pid)
    cores = os.cpu_count() or 1
    gens = [subprocess.Popen([sys.executable, __file__, "--load", str(rate // cores), str(STEP_S), str(port)],
                             stdout=subprocess.PIPE, text=True) for _ in range(cores)]
    made = sum(int(g.communicate()[0] or 0) for g in gens)
    c1 = cpu_s(w.pid)
    w.wait(timeout=30)
    seen, lost = 0, 0
    with open(out) as f:
        for line in f:
            v = json.loads(line)
            if v.get("reason") == "NO_SOCKET" and v.get("src", "").endswith(f":{port}"):
                seen += 1
            if "summary" in v:
                lost = v["summary"]["lost"]
    return made, seen, lost, (c1 - c0) / STEP_S


def main(zw):
    port = free_port()
    print(f"watch        refused connects on loopback, {STEP_S:.0f} s a step, {os.cpu_count()} generators; one run")
    with tempfile.TemporaryDirectory() as d:
        best = 0
        for rate in RATES:
            made, seen, lost, cpu = step(zw, rate, port, d)
            made_s, seen_s = made / STEP_S, seen / STEP_S
            print(f"watch        asked {rate:>9,}/s: made {made_s:>9,.0f}/s, reported {seen_s:>9,.0f}/s "
                  f"({seen / made:.1%} of them), lost {lost:,} events, watch CPU {cpu:.0%} of a core")
            if lost == 0 and seen == made:
                best = max(best, made_s)
            if lost > 0 or made_s < 0.8 * rate:
                break
        print(f"watch        every reset reported up to {best:,.0f} resets/s; "
              + ("it lost events above that" if lost > 0 else "the generators could go no faster, and nothing was lost"))


if __name__ == "__main__":
    if sys.argv[1] == "--load":
        load(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    else:
        main(sys.argv[1])
