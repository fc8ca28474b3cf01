#!/usr/bin/env python3
"""A reference client of zerowin's framed protocol, written from the byte table in docs/remedies.md
("The framed protocol") and nothing else.

It connects, says hello with the next sequence it wants, checks every frame's sequence,
processes it (an optional delay), acknowledges cumulatively, and on any error or EOF
reconnects with bounded exponential backoff and resumes where it left off. With
--disconnect-every it drops the connection at random moments on purpose. Every 0.2 s, at
the end and on SIGTERM it prints its accounting as the line zerowin reads from a framed
client program (docs/remedies.md):

  zerowin-processed FIRST LAST COUNT GAPS DUPLICATES REORDERED RECONNECTS

and at the end one JSON line of the same accounting: processed (unique), duplicates, gaps
(sequences it never got), reordered, reconnects, and the last sequence processed.

  python3 scripts/resume_client.py --port 8000 --duration 5 --disconnect-every 0.5
"""
import argparse
import json
import random
import signal
import socket
import struct
import sys
import time

MAGIC = b"ZWIN"
VERSION = 1
HELLO = struct.Struct(">4sHHQ")   # magic, version, zero, sequence
FRAME = struct.Struct(">QQH")     # seq, produced ns, payload length
ACK = struct.Struct(">Q")         # highest sequence processed


class ProtocolError(Exception):
    pass


REPORT_EVERY = 0.2
last_report = [0.0]


def report(state, force=False):
    """The zerowin-processed line, at most every REPORT_EVERY seconds unless forced."""
    now = time.monotonic()
    if not force and now - last_report[0] < REPORT_EVERY:
        return
    last_report[0] = now
    s = state
    print(f"zerowin-processed {s['first']} {s['last']} {s['processed']} {s['gaps']} "
          f"{s['duplicates']} {s['reordered']} {s['reconnects']}", flush=True)


def recv_exact(sock, n):
    b = b""
    while len(b) < n:
        chunk = sock.recv(n - len(b))
        if not chunk:
            raise ConnectionError("EOF")
        b += chunk
    return b


def session(args, state, deadline):
    """One connection: hello, then frames until the deadline, an error or EOF."""
    sock = socket.create_connection((args.host, args.port), timeout=2.0)
    try:
        want = state["last"] + 1
        sock.sendall(HELLO.pack(MAGIC, VERSION, 0, want))
        magic, version, _, first = HELLO.unpack(recv_exact(sock, HELLO.size))
        if magic != MAGIC or version != VERSION:
            raise ProtocolError(f"not a zerowin framed sender: {magic!r} version {version}")
        # first > want: the sender no longer has want..first-1; the first frame's
        # sequence shows the gap, and it is counted there, once.
        buf = b""
        since_ack = 0
        leave_at = time.monotonic() + random.expovariate(1 / args.disconnect_every) if args.disconnect_every else None
        while time.monotonic() < deadline:
            if leave_at and time.monotonic() >= leave_at:
                raise ConnectionAbortedError("disconnecting on purpose")
            sock.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("EOF")
            buf += chunk
            while len(buf) >= FRAME.size:
                seq, _produced, length = FRAME.unpack_from(buf)
                if len(buf) < FRAME.size + length:
                    break
                buf = buf[FRAME.size + length:]
                if seq <= state["last"]:
                    state["duplicates"] += 1
                    continue
                if seq < state["highest_seen"]:
                    state["reordered"] += 1
                if seq > state["last"] + 1:
                    state["gaps"] += seq - state["last"] - 1
                state["highest_seen"] = max(state["highest_seen"], seq)
                if args.delay:
                    time.sleep(args.delay)
                state["last"] = seq
                state["processed"] += 1
                if not state["first"]:
                    state["first"] = seq
                report(state)
                since_ack += 1
                if since_ack >= args.ack_every:
                    sock.sendall(ACK.pack(seq))
                    since_ack = 0
        if since_ack:
            sock.sendall(ACK.pack(state["last"]))
    finally:
        sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--duration", type=float, default=5.0, help="seconds to run")
    p.add_argument("--delay", type=float, default=0.0, help="seconds of processing per message")
    p.add_argument("--ack-every", type=int, default=1)
    p.add_argument("--max-reconnects", type=int, default=100)
    p.add_argument("--disconnect-every", type=float, default=0.0,
                   help="drop the connection after a random time of this mean, in seconds")
    args = p.parse_args()

    state = dict(first=0, last=0, processed=0, duplicates=0, gaps=0, reordered=0, highest_seen=0, reconnects=0)

    def stopped(*_):
        # zerowin stops a client at the end of the run's duration with SIGTERM: the last
        # counts go out first.
        report(state, force=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stopped)
    deadline = time.monotonic() + args.duration
    backoff = 0.01
    error = None
    while time.monotonic() < deadline:
        try:
            session(args, state, deadline)
            backoff = 0.01
        except ProtocolError as e:
            error = str(e)
            break
        except (OSError, ConnectionError) as e:
            error = f"{type(e).__name__}: {e}"
            if state["reconnects"] >= args.max_reconnects:
                break
            state["reconnects"] += 1
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, 0.5)
    report(state, force=True)
    state.pop("highest_seen")
    state["last_error"] = error
    print(json.dumps(state), flush=True)
    return 2 if error and error.startswith("not a zerowin") else 0


if __name__ == "__main__":
    sys.exit(main())
