#!/usr/bin/env python3
"""Small peers for scripts/record_fixtures.sh: programs that are not zerowin's, each
ending a TCP connection one particular way, so that tcpdump and tshark can record
how a real kernel does it. Every blocking call has a timeout.

  server-linger0 PORT     accept, read a little, set SO_LINGER 0, close (an RST)
  client-send PORT        connect, send 100 bytes, wait for the end
  server-echo HOST PORT   accept, echo until EOF, close (a FIN each way)
  client-echo HOST PORT   connect, send, read the echo, close
  server-writer PORT      accept, write with a blocking socket until killed
  client-stall PORT       connect, never read, sleep until killed
  server-fin PORT         accept, close at once (a FIN, nothing unread)
  client-late PORT        connect, wait 0.3 s, send 100 bytes, wait for the end
  server-quiet HOST PORT  accept, then say nothing
  client-keepalive HOST PORT  connect with keepalive 1 s / 1 s / 3 probes, wait for the error
"""
import socket
import struct
import sys
import time

TIMEOUT = 30.0


def listen(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1)
    s.settimeout(TIMEOUT)
    print("listening", flush=True)
    c, _ = s.accept()
    c.settimeout(TIMEOUT)
    return c


def connect(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(TIMEOUT)
    c.connect((host, port))
    return c


def wait_end(c):
    try:
        while c.recv(4096):
            pass
        print("eof", flush=True)
    except OSError as e:
        print("error", e.errno, flush=True)


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "server-linger0":
        c = listen("127.0.0.1", int(args[0]))
        c.recv(10)  # 90 of the client's 100 bytes stay unread
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.2)
        c.close()
    elif what == "client-send":
        c = connect("127.0.0.1", int(args[0]))
        c.sendall(b"x" * 100)
        wait_end(c)
    elif what == "server-echo":
        c = listen(args[0], int(args[1]))
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
        c.close()
    elif what == "client-echo":
        c = connect(args[0], int(args[1]))
        for i in range(5):
            c.sendall(b"hello %d\n" % i)
            c.recv(4096)
        c.shutdown(socket.SHUT_WR)
        wait_end(c)
        c.close()
    elif what == "server-writer":
        c = listen("127.0.0.1", int(args[0]))
        c.settimeout(None)  # blocks in send() once the window closes; killed by the script
        while True:
            c.sendall(b"y" * 65536)
    elif what == "client-stall":
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.settimeout(TIMEOUT)
        c.connect(("127.0.0.1", int(args[0])))
        time.sleep(TIMEOUT)
    elif what == "server-fin":
        c = listen("127.0.0.1", int(args[0]))
        c.close()
        time.sleep(1)
    elif what == "client-late":
        c = connect("127.0.0.1", int(args[0]))
        time.sleep(0.3)
        c.sendall(b"z" * 100)
        wait_end(c)
    elif what == "server-quiet":
        c = listen(args[0], int(args[1]))
        time.sleep(TIMEOUT)
    elif what == "client-keepalive":
        c = connect(args[0], int(args[1]))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        c.settimeout(20)
        print("connected", flush=True)
        wait_end(c)
    else:
        sys.exit("unknown peer: " + what)


if __name__ == "__main__":
    main()
