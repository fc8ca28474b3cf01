#!/usr/bin/env python3
"""MQTT 3.1.1 for zerowin's gallery, written from the OASIS standard
(docs.oasis-open.org/mqtt/mqtt/v3.1.1): the packets a QoS 1 publisher and a
persistent-session subscriber need, over a plain socket.

  mqtt.py publish HOST PORT TOPIC [--rate N]
      CONNECT (clean session), then PUBLISH at QoS 1, each payload a sequence number
      ("seq 000000001"), N a second (default 2000), keeping at most 100 unacknowledged.
  mqtt.py subscribe HOST PORT TOPIC --client-id ID [--away-after N] [--away-for S]
                   [--qos 0|1] [--delay S] [--slow-for S]
      CONNECT with clean session 0 (the broker keeps the session and queues QoS 1
      messages while the client is away), SUBSCRIBE at QoS 1, PUBACK every message.
      After N messages it goes away (closes the socket, no DISCONNECT), waits S seconds,
      and comes back with the same client id: the broker redelivers what it queued.
      It counts the sequence numbers as zerowin counts its own frames and prints
      `zerowin-processed FIRST LAST COUNT GAPS DUPLICATES REORDERED RECONNECTS`
      every 0.2 s and on SIGTERM (docs/remedies.md).
"""
import argparse
import select
import signal
import socket
import struct
import sys
import time


def remaining_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(kind, body):
    return bytes([kind]) + remaining_length(len(body)) + body


def string(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect(client_id, clean):
    flags = 0x02 if clean else 0x00
    return packet(0x10, string("MQTT") + bytes([4, flags]) + struct.pack("!H", 60) + string(client_id))


def subscribe(topic, qos=1):
    return packet(0x82, struct.pack("!H", 1) + string(topic) + bytes([qos]))


def publish(topic, pid, payload):
    return packet(0x32, string(topic) + struct.pack("!H", pid) + payload)


def puback(pid):
    return packet(0x40, struct.pack("!H", pid))


class Reader:
    """Splits the byte stream into (first byte, body) packets."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def packets(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("EOF")
        self.buf += data
        while True:
            if len(self.buf) < 2:
                return
            mult, n, i = 1, 0, 1
            while True:
                if i >= len(self.buf):
                    return
                b = self.buf[i]
                n += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            if len(self.buf) < i + n:
                return
            first, body = self.buf[0], self.buf[i:i + n]
            self.buf = self.buf[i + n:]
            yield first, body


def open_session(host, port, client_id, clean):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(connect(client_id, clean))
    r = Reader(s)
    for first, body in r.packets():
        if first >> 4 == 2 and body[1] == 0:
            return s, r, bool(body[0] & 1)
        raise ConnectionError(f"CONNACK refused: {body!r}")
    raise ConnectionError("no CONNACK")


def run_publisher(a):
    s, r, _ = open_session(a.host, a.port, "zerowin-pub", True)
    seq, unacked, start = 0, set(), time.monotonic()

    def said(*_):
        took = time.monotonic() - start
        print(f"published {seq} in {took:.2f} s ({seq / took:.0f}/s), {len(unacked)} unacknowledged",
              file=sys.stderr, flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, said)
    while True:
        due = int((time.monotonic() - start) * a.rate)
        while seq < due and len(unacked) < 100:
            seq += 1
            pid = seq % 65535 + 1
            s.sendall(publish(a.topic, pid, b"seq %09d" % seq))
            unacked.add(pid)
        # The PUBACKs, when there are some; else a millisecond's wait.
        if select.select([s], [], [], 0.001)[0]:
            for first, body in r.packets():
                if first >> 4 == 4:
                    unacked.discard(struct.unpack("!H", body[:2])[0])


class Count:
    def __init__(self):
        self.seen, self.first, self.last = set(), 0, 0
        self.duplicates = self.reordered = self.reconnects = 0

    def take(self, seq):
        if seq in self.seen:
            self.duplicates += 1
            return
        if seq < self.last:
            self.reordered += 1
        self.seen.add(seq)
        self.first = min(self.first or seq, seq)
        self.last = max(self.last, seq)

    def line(self):
        count = len(self.seen)
        gaps = (self.last - self.first + 1 - count) if count else 0
        return (f"zerowin-processed {self.first} {self.last} {count} {gaps} "
                f"{self.duplicates} {self.reordered} {self.reconnects}")


def run_subscriber(a):
    c = Count()
    signal.signal(signal.SIGTERM, lambda *_: (print(c.line(), flush=True), sys.exit(0)))
    s, r, _ = open_session(a.host, a.port, a.client_id, False)
    s.sendall(subscribe(a.topic, a.qos))
    got, away_done, said = 0, a.away_after is None, time.monotonic()
    started = said
    while True:
        if not select.select([s], [], [], 0.2)[0]:
            print(c.line(), flush=True)
            continue
        for first, body in r.packets():
            if first >> 4 != 3:
                continue
            n = struct.unpack("!H", body[:2])[0]
            rest = body[2 + n:]
            qos = (first >> 1) & 3
            if qos:
                pid, payload = struct.unpack("!H", rest[:2])[0], rest[2:]
                s.sendall(puback(pid))
            else:
                payload = rest
            if payload.startswith(b"seq "):
                c.take(int(payload[4:]))
                got += 1
                if a.delay and time.monotonic() - started < a.slow_for:
                    time.sleep(a.delay)
        if time.monotonic() - said > 0.2:
            print(c.line(), flush=True)
            said = time.monotonic()
        if not away_done and got >= a.away_after:
            # Away: the socket closes without DISCONNECT, as a crashed client's would.
            s.close()
            print(c.line(), flush=True)
            time.sleep(a.away_for)
            left_at = c.last
            s, r, present = open_session(a.host, a.port, a.client_id, False)
            print(f"came back after {a.away_for} s: session present {int(present)}; "
                  f"the last sequence before leaving was {left_at}", file=sys.stderr, flush=True)
            c.reconnects += 1
            away_done = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["publish", "subscribe"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("topic")
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--client-id", default="zerowin-sub")
    p.add_argument("--away-after", type=int)
    p.add_argument("--away-for", type=float, default=1.0)
    p.add_argument("--qos", type=int, choices=[0, 1], default=1, help="the subscription's QoS")
    p.add_argument("--delay", type=float, default=0.0, help="seconds of work per message")
    p.add_argument("--slow-for", type=float, default=1e9,
                   help="seconds it works so slowly, then it reads as fast as it can")
    a = p.parse_args()
    try:
        (run_publisher if a.role == "publish" else run_subscriber)(a)
    except (ConnectionError, BrokenPipeError) as e:
        print(f"{a.role}: {e}", file=sys.stderr, flush=True)
        return 0 if a.role == "publish" else 1


if __name__ == "__main__":
    sys.exit(main())
