#!/usr/bin/env python3
"""The 2014 Python clients, ported to Python 3 and written here from the post's
description ("What happens when we hit the speed limit of python", 2014):

- naive (the default): a blocking socket; recv(10); "process" the data; send
  "Hi i got the data" back after every read. It falls behind a fast sender, its
  receive window closes, and the sender's close() turns into an RST.
- fixed (--fixed): a non-blocking socket; select() for readability, then recv(1024)
  until EAGAIN, so the receive queue is emptied on every wake-up. No replies.

Every blocking call has a timeout (--timeout). Exit codes: 0 the peer closed (EOF),
1 a socket error (its errno is printed on stderr), 2 bad arguments.

    python3 scripts/original_client.py --host 127.0.0.1 --port 8000
    python3 scripts/original_client.py --host 127.0.0.1 --port 8000 --fixed
"""
import argparse
import errno
import select
import socket
import sys


def fail(where: str, e: OSError) -> int:
    name = errno.errorcode.get(e.errno, str(e.errno))
    print(f"{where}: [Errno {e.errno}] {name}: {e.strerror}", file=sys.stderr, flush=True)
    return 1


def naive(sock: socket.socket, timeout: float, verbose: bool) -> int:
    sock.settimeout(timeout)
    count = 1
    while True:
        try:
            data = sock.recv(10)
        except OSError as e:
            return fail("recv", e)
        if not data:
            print("EOF", flush=True)
            return 0
        # Does some action on the data, and returns the response.
        if verbose:
            print(f"sending {count}: {data!r}", flush=True)
        try:
            sock.send(b"Hi i got the data")
        except OSError as e:
            return fail("send", e)
        count += 1


def fixed(sock: socket.socket, timeout: float, verbose: bool) -> int:
    sock.setblocking(False)
    count = 1
    while True:
        readable, _, _ = select.select([sock], [], [], timeout)
        if not readable:
            print(f"nothing to read for {timeout} s", file=sys.stderr, flush=True)
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
            handled += len(chunk)
        # Does some action on the whole batch.
        if verbose:
            print(f"batch {count}: handled {handled} bytes", flush=True)
        count += 1


def main() -> int:
    ap = argparse.ArgumentParser(description="The 2014 naive and fixed Python clients.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fixed", action="store_true", help="drain until EAGAIN (the 2014 fix)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds any one call may wait")
    ap.add_argument("--verbose", action="store_true", help="print every read, as the post did")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    try:
        sock.connect((args.host, args.port))
    except OSError as e:
        return fail("connect", e)
    run = fixed if args.fixed else naive
    try:
        return run(sock, args.timeout, args.verbose)
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
