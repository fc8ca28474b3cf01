#!/usr/bin/env python3
"""The 2014 Python clients, ported to Python 3 and written here from the post's
description ("What happens when we hit the speed limit of python", 2014), with the
post's remedies as flags:

- naive (the default): a blocking socket; recv(10); "process" the data; send
  "Hi i got the data" back after every read. It falls behind a fast sender, its
  receive window closes, and the sender's close() turns into an RST.
- --verbose: print every read, as the post's client did (two lines a read): the
  naive client "as in 2014", with the work its main loop really did.
- --rcvbuf N, --sndbuf N: SO_RCVBUF and SO_SNDBUF before connect() (the post's
  "tweak the kernel's buffer sizes").
- --fixed: a non-blocking socket; select() for readability, then recv(1024) until
  EAGAIN, so the receive queue is emptied on every wake-up. No replies.
- --threaded: a reader thread empties the socket into a bounded queue (recv(65536));
  the main thread processes it 10 bytes at a time and replies, as naive does.

Every blocking call has a timeout (--timeout). Every 0.2 s, at the end and on
SIGTERM it prints what it read as the line zerowin reads from a client program of
bare messages (docs/usage.md):

  zerowin-read BYTES READS

Exit codes: 0 the peer closed (EOF), 1 a socket error (its errno is printed on
stderr), 2 bad arguments.

    python3 scripts/original_client.py --host 127.0.0.1 --port 8000
    python3 scripts/original_client.py --host 127.0.0.1 --port 8000 --fixed
"""
import argparse
import collections
import errno
import select
import signal
import socket
import sys
import threading
import time

REPLY = b"Hi i got the data"
REPORT_EVERY = 0.2


class Count:
    """Bytes and reads so far, reported at most every REPORT_EVERY seconds."""

    def __init__(self):
        self.bytes = 0
        self.reads = 0
        self.last = 0.0

    def add(self, n: int):
        self.bytes += n
        self.reads += 1
        now = time.monotonic()
        if now - self.last >= REPORT_EVERY:
            self.last = now
            self.report()

    def report(self):
        print(f"zerowin-read {self.bytes} {self.reads}", flush=True)


COUNT = Count()


def fail(where: str, e: OSError) -> int:
    name = errno.errorcode.get(e.errno, str(e.errno))
    print(f"{where}: [Errno {e.errno}] {name}: {e.strerror}", file=sys.stderr, flush=True)
    return 1


def naive(sock: socket.socket, args) -> int:
    count = 1
    while True:
        try:
            data = sock.recv(10)
        except OSError as e:
            return fail("recv", e)
        if not data:
            print("EOF", flush=True)
            return 0
        COUNT.add(len(data))
        # Does some action on the data, and returns the response.
        if args.verbose:
            print(f"sending {count}", flush=True)
            print(data, flush=True)
        try:
            sock.send(REPLY)
        except OSError as e:
            return fail("send", e)
        count += 1


def fixed(sock: socket.socket, args) -> int:
    sock.setblocking(False)
    count = 1
    while True:
        readable, _, _ = select.select([sock], [], [], args.timeout)
        if not readable:
            print(f"nothing to read for {args.timeout} s", file=sys.stderr, flush=True)
            return 1
        handled = 0
        while True:
            try:
                chunk = sock.recv(1024)
            except BlockingIOError:  # EAGAIN: nothing more to read
                break
            except OSError as e:
                return fail("recv", e)
            if not chunk:
                print("EOF", flush=True)
                return 0
            COUNT.add(len(chunk))
            handled += len(chunk)
        # Does some action on the whole batch.
        if args.verbose:
            print(f"batch {count}: handled {handled} bytes", flush=True)
        count += 1


def threaded(sock: socket.socket, args) -> int:
    """The reader thread empties the socket; this thread does naive's work."""
    queue = collections.deque()
    cond = threading.Condition()
    state = {"end": None, "queued": 0}

    def reader():
        while True:
            with cond:
                while state["queued"] >= args.queue_bytes:
                    cond.wait(args.timeout)
            try:
                chunk = sock.recv(65536)
            except OSError as e:
                end = ("recv", e)
            else:
                end = None if chunk else ("EOF", None)
            with cond:
                if end:
                    state["end"] = end
                else:
                    queue.append(chunk)
                    state["queued"] += len(chunk)
                cond.notify_all()
            if end:
                return

    threading.Thread(target=reader, daemon=True).start()
    buf = b""
    while True:
        if len(buf) < 10:
            with cond:
                while not queue and state["end"] is None:
                    if not cond.wait(args.timeout):
                        print(f"nothing to read for {args.timeout} s", file=sys.stderr, flush=True)
                        return 1
                while queue:
                    chunk = queue.popleft()
                    state["queued"] -= len(chunk)
                    buf += chunk
                cond.notify_all()
                end = state["end"] if not buf else None
            if end:
                where, e = end
                if e is None:
                    print("EOF", flush=True)
                    return 0
                return fail(where, e)
        data, buf = buf[:10], buf[10:]
        COUNT.add(len(data))
        try:
            sock.send(REPLY)
        except OSError as e:
            return fail("send", e)


def main() -> int:
    ap = argparse.ArgumentParser(description="The 2014 naive and fixed Python clients.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--fixed", action="store_true", help="drain until EAGAIN (the 2014 fix)")
    mode.add_argument("--threaded", action="store_true", help="read in a thread of its own")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds any one call may wait")
    ap.add_argument("--verbose", action="store_true", help="print every read, as the post did")
    ap.add_argument("--rcvbuf", type=int, help="SO_RCVBUF, bytes, before connect()")
    ap.add_argument("--sndbuf", type=int, help="SO_SNDBUF, bytes, before connect()")
    ap.add_argument("--queue-bytes", type=int, default=64 << 20,
                    help="--threaded: the reader's queue at most (64 MiB)")
    args = ap.parse_args()

    def stopped(*_):
        # zerowin stops a client at the end of the run's duration with SIGTERM: the
        # last count goes out first.
        COUNT.report()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stopped)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    for opt, value in ((socket.SO_RCVBUF, args.rcvbuf), (socket.SO_SNDBUF, args.sndbuf)):
        if value:
            sock.setsockopt(socket.SOL_SOCKET, opt, value)
    try:
        sock.connect((args.host, args.port))
    except OSError as e:
        return fail("connect", e)
    run = fixed if args.fixed else threaded if args.threaded else naive
    try:
        return run(sock, args)
    finally:
        COUNT.report()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
