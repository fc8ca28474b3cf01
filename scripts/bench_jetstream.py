#!/usr/bin/env python3
"""The JetStream spool's benchmarks (docs/benchmarks.md, jetstream): run by
scripts/bench.sh with PARTS=jetstream.

Prints one block of figures; never asserts a goal, only reports it. Each broker is a
`zerowin broker up` of this build (nats-server from Debian), started once per part and
stopped at the end; every trial uses a stream of its own.

1. Spilling: a spool sender with a 4 KiB memory queue and no client, unlimited
   producer, SPILL_TRIALS trials of 3 s per arm, the arms rotating: redb (fsync
   batch), JetStream R1 (1 node) and R3 (3 nodes). Messages/s accepted (committed,
   or acknowledged by the broker), from the progress lines between 1 s and 3 s.
   Goals: R1 >= 100,000/s, R3 >= 50,000/s.
2. Delivered with a fast client: the original sender + drain (drain-survives), and the
   spool + resume on redb, JetStream R1 and R3, DELIVER_TRIALS trials of 3 s each,
   rotating; delivered messages/s.
3. Restart to the first redelivered frame with >= 1,000,000 pending: a spool filled
   with no client until it has accepted 1,000,000 messages, SIGKILL, then
   RECOVERY_TRIALS restarts on the same stream (R1 and R3), each timed from the
   restart to the first frame a resume client gets. Goal < 1 s.

Usage: bench_jetstream.py ZEROWIN_EXE  (env: SPILL_TRIALS, DELIVER_TRIALS, RECOVERY_TRIALS)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_spool import counts, first_frame, serve  # the same sender, protocol and progress lines

ZW = sys.argv[1]
SPILL_TRIALS = int(os.environ.get("SPILL_TRIALS", "5"))
DELIVER_TRIALS = int(os.environ.get("DELIVER_TRIALS", "5"))
RECOVERY_TRIALS = int(os.environ.get("RECOVERY_TRIALS", "5"))
TMP = tempfile.mkdtemp(prefix="zerowin-bench-js-")


def broker(nodes):
    p = subprocess.Popen([ZW, "broker", "up", "--nodes", str(nodes)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    for line in p.stdout:
        if line.strip().startswith("nats_url="):
            return p, line.strip().split("=", 1)[1]
    raise RuntimeError("the broker did not start")


def stop_broker(p):
    p.stdin.write("stop\n")
    p.stdin.flush()
    p.wait(timeout=30)


def kill(p):
    os.killpg(p.pid, 9)
    p.wait()


def spill_rate(sets):
    d = tempfile.mkdtemp(dir=TMP)
    p = serve(d, "queue_bytes=4096", *sets)
    p.stdout.readline()
    first = last = None
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        line = p.stdout.readline()
        if line.startswith("zerowin-progress "):
            c = (time.monotonic(), int(counts(line)["accepted"]))
            if c[0] - start >= 1.0:
                first = first or c
                last = c
    kill(p)
    return (last[1] - first[1]) / (last[0] - first[0])


def rotate(arms, trials, measure):
    got = {name: [] for name, _ in arms}
    for i in range(trials):
        for j in range(len(arms)):
            name, how = arms[(i + j) % len(arms)]
            got[name].append(measure(how))
    return got


def report(title, got, unit, goals=None):
    print(title)
    for name, xs in got.items():
        xs = sorted(xs)
        goal = (goals or {}).get(name)
        verdict = "" if goal is None else f"; goal >= {goal:,}: {'met' if xs[0] >= goal else 'met by the median' if statistics.median(xs) >= goal else 'NOT met'}"
        print(f"  {name:<24} median {statistics.median(xs):>10,.0f} {unit} (range {xs[0]:,.0f}-{xs[-1]:,.0f}, {len(xs)} trials){verdict}")


def delivered(text):
    path = os.path.join(TMP, "s.toml")
    with open(path, "w") as f:
        f.write(text)
    out = subprocess.run([ZW, "run", path, "--json", "-", "--sample", "off", "--no-capture", "--duration", "3s"],
                         capture_output=True)
    t = json.loads(out.stdout)["scenarios"][0]["trials"][0]
    secs = t["active_us"] / 1e6
    if t.get("messages"):
        return t["messages"]["delivered"] / secs
    return t["bytes_read"] / 13 / secs


def recovery(name, sets):
    d = tempfile.mkdtemp(dir=TMP)
    p = serve(d, "queue_bytes=4096", *sets)
    p.stdout.readline()
    accepted, t0 = 0, time.monotonic()
    while accepted < 1_000_000 and time.monotonic() - t0 < 120:
        line = p.stdout.readline()
        if line.startswith("zerowin-progress "):
            accepted = int(counts(line)["accepted"])
    kill(p)
    times = []
    for _ in range(RECOVERY_TRIALS):
        t0 = time.monotonic()
        q = serve(d, "rate=1/s", *sets)
        port = int(q.stdout.readline().split()[1])
        seq = first_frame(port)
        times.append(time.monotonic() - t0)
        kill(q)
    times.sort()
    print(f"  {name:<10} {accepted:,} accepted, SIGKILL, {RECOVERY_TRIALS} restarts: restart to first redelivered frame (seq {seq}) "
          f"median {statistics.median(times) * 1000:.0f} ms (range {times[0] * 1000:.0f}-{times[-1] * 1000:.0f}); goal < 1 s: {'met' if times[-1] < 1 else 'NOT met'}")


def main():
    b1, url1 = broker(1)
    b3, url3 = broker(3)
    try:
        r1 = ["store=jetstream", f"nats_url={url1}"]
        r3 = ["store=jetstream", "replicas=3", f"nats_url={url3}"]
        print("== jetstream")
        got = rotate([("redb (fsync batch)", ["fsync=batch"]), ("JetStream R1", r1), ("JetStream R3", r3)],
                     SPILL_TRIALS, spill_rate)
        report("spilling (no client, 4 KiB memory queue, unlimited producer; 1 s to 3 s of each trial):", got,
               "messages/s accepted", {"JetStream R1": 100_000, "JetStream R3": 50_000})
        resume = '[client]\nstrategy = "resume"\n[expect]\noutcome = "survived"\n'
        arms = [
            ("original + drain", open("scenarios/drain-survives.toml").read()),
            ("spool redb + resume", '[sender]\nkind = "spool"\n' + resume),
            ("spool JS R1 + resume", '[sender]\nkind = "spool"\nstore = "jetstream"\n[broker]\nnodes = 1\n' + resume),
            ("spool JS R3 + resume", '[sender]\nkind = "spool"\nstore = "jetstream"\nreplicas = 3\n[broker]\nnodes = 3\n' + resume),
        ]
        got = rotate(arms, DELIVER_TRIALS, delivered)
        report("delivered with a fast client (3 s trials, unlimited producer):", got, "messages/s")
        print("restart with a full spool:")
        recovery("JetStream R1", r1)
        recovery("JetStream R3", r3)
    finally:
        stop_broker(b1)
        stop_broker(b3)
        shutil.rmtree(TMP, ignore_errors=True)


main()
