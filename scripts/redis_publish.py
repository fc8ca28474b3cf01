#!/usr/bin/env python3
"""A Redis publisher for zerowin's gallery: PUBLISH CHANNEL MESSAGE as fast as Redis
takes it, pipelined 100 commands at a time, each message a 13-byte sequence number
("seq 000000001"). Written from the RESP protocol's public docs (redis.io/docs/
reference/protocol-spec): a command is an array of bulk strings; every reply to
PUBLISH is an integer, ":N\r\n". Usage: redis_publish.py HOST PORT CHANNEL."""
import socket
import sys


def command(*parts):
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def main():
    host, port, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    s = socket.create_connection((host, port), timeout=5)
    s.setblocking(False)
    seq = 0
    pending = b""
    while True:
        if not pending:
            batch = []
            for _ in range(100):
                seq += 1
                batch.append(command(b"PUBLISH", channel, b"seq %09d" % seq))
            pending = b"".join(batch)
        try:
            n = s.send(pending)
            pending = pending[n:]
        except BlockingIOError:
            pass
        try:
            # The replies are read and dropped, so Redis never holds them for us.
            if s.recv(1 << 16) == b"":
                return 0
        except BlockingIOError:
            pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, ConnectionResetError):
        sys.exit(0)
