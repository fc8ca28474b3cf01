#!/usr/bin/env python3
"""An independent non-blocking sender, written from the 2014 post's description and
sharing no code with c-server/original.c: accept one connection, make it non-blocking,
send 13-byte messages as fast as possible, and on the first failed send close()
without reading anything the client sent.

Used to check that `zerowin client` reproduces the reset against a server that is
not zerowin's own:

    python3 scripts/nonblocking_sender.py --port 0 &     # prints "port N"
    zerowin client naive --connect 127.0.0.1:N
"""
import argparse
import errno
import socket
import sys

MESSAGE = b"Hello World!\0"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    ap.add_argument("--sndbuf", type=int, default=0, help="SO_SNDBUF; 0 = default")
    ap.add_argument("--accept-timeout", type=float, default=30.0)
    args = ap.parse_args()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(1)
    listener.settimeout(args.accept_timeout)
    print(f"port {listener.getsockname()[1]}", flush=True)

    conn, peer = listener.accept()
    listener.close()
    if args.sndbuf:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.sndbuf)
    conn.setblocking(False)
    sent = 0
    while True:
        try:
            sent += conn.send(MESSAGE)
        except OSError as e:
            print(f"send failed after {sent} bytes: {errno.errorcode.get(e.errno, e.errno)}",
                  flush=True)
            break
    conn.close()  # the client's replies are unread: the kernel sends RST
    return 0


if __name__ == "__main__":
    sys.exit(main())
