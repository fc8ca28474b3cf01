#!/usr/bin/env python3
"""A client written apart from zerowin, for keepalive-dead-peer: it turns on TCP
keepalive (idle 1 s, interval 1 s, 3 probes) with the socket options Python's own
documentation names, reads and replies like the 2014 client, and exits when the
connection fails. It sets no timeout of its own: only keepalive can end its wait."""
import argparse
import socket
import sys

p = argparse.ArgumentParser()
p.add_argument("--host", required=True)
p.add_argument("--port", type=int, required=True)
a = p.parse_args()

s = socket.create_connection((a.host, a.port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
try:
    while True:
        data = s.recv(10)
        if not data:
            print("EOF", file=sys.stderr)
            sys.exit(1)
        s.send(b"Hi i got the data")
except OSError as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
