#!/usr/bin/env python3
"""A NATS core publisher for zerowin's gallery: CONNECT, then PUB SUBJECT with a
13-byte sequence number ("seq 000000001") as fast as the server takes it, 100 at a
time; it answers the server's PING with PONG. Written from the NATS client protocol's
public docs (docs.nats.io/reference/reference-protocols/nats-protocol).
Usage: nats_publish.py HOST PORT SUBJECT."""
import socket
import sys


def main():
    host, port, subject = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    s.setblocking(False)
    seq = 0
    pending = b""
    while True:
        if not pending:
            batch = []
            for _ in range(100):
                seq += 1
                batch.append(b"PUB %s 13\r\nseq %09d\r\n" % (subject, seq))
            pending = b"".join(batch)
        try:
            n = s.send(pending)
            pending = pending[n:]
        except BlockingIOError:
            pass
        try:
            got = s.recv(1 << 16)
            if got == b"":
                return 0
            if b"PING\r\n" in got:
                pending = b"PONG\r\n" + pending
        except BlockingIOError:
            pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, ConnectionResetError):
        sys.exit(0)
