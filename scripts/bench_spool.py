#!/usr/bin/env python3
"""The remedies' benchmarks (docs/benchmarks.md, remedies): run by scripts/bench.sh.

Prints one block of figures; never asserts a goal, only reports it.

1. Throughput with a client that keeps up: the spool sender (unlimited producer,
   resume client) against the original sender (its tight loop, drain client), in
   alternating trials; delivered messages/s, and the ratio of medians with a
   bootstrap interval. Goal >= 0.8.
2. Spilling throughput per fsync policy: a spool sender with a 4 KiB memory queue and
   no client, messages/s accepted (committed), from its progress lines. Goal >= 200,000/s
   with batch.
3. Crash cycles: 100 SIGKILL/restart cycles at random moments while a resume client
   consumes: lost, duplicates, reordered.
4. Recovery: a spool holding >= 1,000,000 unacknowledged messages, SIGKILL, restart:
   the time from the restart to the first redelivered frame. Goal < 1 s.

Usage: bench_spool.py ZEROWIN_EXE  (env: SPOOL_TRIALS, FSYNC_TRIALS, CYCLES, RECOVERY_TRIALS)
"""
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ZW = sys.argv[1]
TRIALS = int(os.environ.get("SPOOL_TRIALS", "10"))
FSYNC_TRIALS = int(os.environ.get("FSYNC_TRIALS", "5"))
CYCLES = int(os.environ.get("CYCLES", "100"))
RECOVERY_TRIALS = int(os.environ.get("RECOVERY_TRIALS", "5"))
TMP = tempfile.mkdtemp(prefix="zerowin-bench-") if __name__ == "__main__" else None


def run_json(text, name, *args):
    path = os.path.join(TMP, name + ".toml")
    with open(path, "w") as f:
        f.write(text)
    out = subprocess.run(
        [ZW, "run", path, "--json", "-", "--sample", "off", "--no-capture", *args],
        capture_output=True,
    )
    return json.loads(out.stdout)


def boot_ratio(a, b, n=2000, seed=1):
    rng = random.Random(seed)
    rs = []
    for _ in range(n):
        ra = [rng.choice(a) for _ in a]
        rb = [rng.choice(b) for _ in b]
        rs.append(statistics.median(ra) / statistics.median(rb))
    rs.sort()
    return rs[int(0.025 * n)], rs[int(0.975 * n) - 1]


def throughput():
    original = open("scenarios/drain-survives.toml").read()
    spool = (
        '[sender]\nkind = "spool"\n[client]\nstrategy = "resume"\n'
        '[run]\nduration = "3s"\n[expect]\noutcome = "survived"\nlost = 0\n'
    )
    o_rates, s_rates = [], []
    for i in range(TRIALS):
        arms = [("orig", original, o_rates), ("spool", spool, s_rates)]
        for name, text, rates in arms if i % 2 == 0 else arms[::-1]:
            extra = ["--duration", "3s"] if name == "orig" else []
            t = run_json(text, name, *extra)["scenarios"][0]["trials"][0]
            secs = t["active_us"] / 1e6
            if t.get("messages"):
                rates.append(t["messages"]["delivered"] / secs)
            else:
                rates.append(t["bytes_read"] / 13 / secs)
    mo, ms = statistics.median(o_rates), statistics.median(s_rates)
    lo, hi = boot_ratio(s_rates, o_rates)
    print(f"throughput, {TRIALS} trials each (3 s, alternating):")
    print(f"  original + drain: median {mo:,.0f} messages/s delivered")
    print(f"  spool + resume:   median {ms:,.0f} messages/s delivered")
    print(f"  ratio spool/original: {ms / mo:.2f} (95% bootstrap {lo:.2f}-{hi:.2f}); goal >= 0.8: {'met' if lo >= 0.8 else 'NOT met' if hi < 0.8 else 'not shown either way'}")


def serve(dirpath, *sets):
    args = [ZW, "serve", "--sender", "spool", "--port", "0", "--set", f"spool_dir={dirpath}"]
    for s in sets:
        args += ["--set", s]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def counts(line):
    return {k: v for k, v in (kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)}


def spilling():
    print(f"spilling, {FSYNC_TRIALS} trials per policy (no client, 4 KiB memory queue, 2 s each):")
    for policy in ["always", "batch", "never"]:
        rates = []
        for _ in range(FSYNC_TRIALS):
            d = tempfile.mkdtemp(dir=TMP)
            p = serve(d, "queue_bytes=4096", f"fsync={policy}")
            p.stdout.readline()
            first = last = None
            start = time.monotonic()
            while time.monotonic() - start < 2.0:
                line = p.stdout.readline()
                if line.startswith("zerowin-progress "):
                    c = (time.monotonic(), int(counts(line)["accepted"]))
                    first = first or c
                    last = c
            p.kill()
            p.wait()
            shutil.rmtree(d)
            rates.append((last[1] - first[1]) / (last[0] - first[0]))
        rates.sort()
        print(f"  fsync={policy:<6} median {statistics.median(rates):>12,.0f} messages/s accepted (range {rates[0]:,.0f}-{rates[-1]:,.0f})")


def crash_cycles():
    rng = random.Random()
    faults, at = "", 200
    for _ in range(CYCLES):
        at += 100 + rng.randrange(300)
        faults += f'[[fault]]\nat = "{at}ms"\naction = "kill-sender"\n'
        at += 20 + rng.randrange(200)
        faults += f'[[fault]]\nat = "{at}ms"\naction = "restart-sender"\n'
    text = (
        '[sender]\nkind = "spool"\nrate = "20000/s"\nqueue_bytes = 65536\n'
        '[client]\nstrategy = "resume"\ndelay = "20us"\nmax_reconnects = 10000\nreconnect_backoff = "5ms"\n'
        f'{faults}[run]\nduration = "{at + 1500}ms"\n'
        '[expect]\noutcome = "survived"\nlost = 0\nduplicates = 0\nreordered = 0\n'
    )
    s = run_json(text, "cycles")["scenarios"][0]
    m = s["trials"][0]["messages"]
    errors = [f for f in s["trials"][0]["faults"] if f["error"]]
    print(f"crash cycles: {m['sender_restarts']} of {CYCLES} SIGKILL/restart cycles over {(at + 1500) / 1000:.1f} s; "
          f"delivered {m['delivered']:,}, lost {m['lost']}, duplicates {m['duplicates']}, reordered {m['reordered']}, "
          f"void {m['void']:,}; fault errors {len(errors)}; expectation {'held' if s['passed'] else 'BROKEN: ' + '; '.join(s['violations'])}")


def first_frame(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"ZWIN" + struct.pack(">HH", 1, 0) + struct.pack(">Q", 1))
    need, buf = 16 + 18, b""
    while len(buf) < need:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("EOF before the first frame")
        buf += chunk
    s.close()
    return struct.unpack(">Q", buf[16:24])[0]


def recovery():
    src = tempfile.mkdtemp(dir=TMP)
    p = serve(src, "queue_bytes=4096")
    p.stdout.readline()
    accepted = 0
    while accepted < 1_000_000:
        line = p.stdout.readline()
        if line.startswith("zerowin-progress "):
            accepted = int(counts(line)["accepted"])
    os.killpg(p.pid, 9)
    p.wait()
    times = []
    for _ in range(RECOVERY_TRIALS):
        d = tempfile.mkdtemp(dir=TMP)
        shutil.copy(os.path.join(src, "spool.redb"), d)
        t0 = time.monotonic()
        q = serve(d, "rate=1/s")
        port = int(q.stdout.readline().split()[1])
        seq = first_frame(port)
        times.append(time.monotonic() - t0)
        os.killpg(q.pid, 9)
        q.wait()
        shutil.rmtree(d)
    size = os.path.getsize(os.path.join(src, "spool.redb"))
    times.sort()
    print(f"recovery: a spool of {accepted:,} accepted messages ({size / 1e6:.1f} MB), SIGKILL, then {RECOVERY_TRIALS} restarts on copies: "
          f"restart to first redelivered frame (seq {seq}) median {statistics.median(times) * 1000:.0f} ms (range {times[0] * 1000:.0f}-{times[-1] * 1000:.0f}); goal < 1 s: {'met' if times[-1] < 1 else 'NOT met'}")


if __name__ == "__main__":
    try:
        print("== remedies")
        throughput()
        spilling()
        crash_cycles()
        recovery()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
