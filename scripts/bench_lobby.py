#!/usr/bin/env python3
"""The framed senders' lobby under a crowd (scripts/bench.sh PARTS=lobby): the
sender's resident memory (VmRSS now, VmHWM at its peak, from /proc) with no peer,
then under 1,000 connections that never speak and 1,000 that trickle one byte a
second, each crowd held for 5 s; and, inside each crowd, how long a real client
waits from its hello to its first frame.

Usage: bench_lobby.py ZEROWIN [TRIALS]"""
import resource
import socket
import struct
import subprocess
import sys
import time

HELLO = struct.Struct(">4sHHQ")
CROWD = 1000
HOLD = 5.0


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def served(port):
    """Seconds from a real client's hello to its first frame's header."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = time.monotonic()
    s.sendall(HELLO.pack(b"ZWIN", 1, 0, 1))
    need = 16 + 18
    got = b""
    while len(got) < need:
        b = s.recv(need - len(got))
        if not b:
            raise ConnectionError("EOF before the first frame")
        got += b
    took = time.monotonic() - t
    s.close()
    return took


def crowd(port, trickle):
    socks = []
    for _ in range(CROWD):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def hold(pid, port, trickle):
    socks = crowd(port, trickle)
    end = time.monotonic() + HOLD
    waits = []
    next_byte = time.monotonic()
    while time.monotonic() < end:
        if trickle and time.monotonic() >= next_byte:
            for s in socks:
                try:
                    s.send(b"Z")
                except OSError:
                    pass
            next_byte += 1.0
        waits.append(served(port))
        time.sleep(0.5)
    peak = status(pid)
    for s in socks:
        s.close()
    return peak, waits


def main():
    zw = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4 * CROWD), max(hard, 4 * CROWD)))
    p = subprocess.Popen(
        [zw, "serve", "--sender", "patient", "--port", "0", "--set", "rate=1000/s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = None
        for line in p.stdout:
            if line.startswith("zerowin-port "):
                port = int(line.split()[1])
                break
        # The sender's stdout must keep flowing, or its summaries block it.
        import threading

        threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
        served(port)
        time.sleep(0.5)
        idle = status(p.pid)
        print(f"lobby: the patient sender at 1000 msg/s, crowds of {CROWD} held {HOLD:.0f} s each")
        print(f"  no peer:            VmRSS {idle['VmRSS']} kB, VmHWM {idle['VmHWM']} kB")
        for name, trickle in [("silent", False), ("one byte a second", True)]:
            peak, waits = hold(p.pid, port, trickle)
            waits.sort()
            print(
                f"  {CROWD} {name + ':':<18} VmRSS {peak['VmRSS']} kB, VmHWM {peak['VmHWM']} kB; "
                f"a real client's hello to first frame: median {1000 * waits[len(waits) // 2]:.1f} ms, "
                f"max {1000 * waits[-1]:.1f} ms ({len(waits)} clients)"
            )
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
