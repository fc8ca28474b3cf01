#!/usr/bin/env bash
# (tcpdump runs in --immediate-mode: without it, frames still in the kernel ring
# buffer when the capture is stopped are never written.)
#
# Records the capture fixtures that tests/diagnose.rs checks `zerowin diagnose`
# against, with Debian's tcpdump and tshark, from programs that are not zerowin's
# (scripts/fixture_peers.py, scripts/nonblocking_sender.py, scripts/original_client.py).
# Needs root: capturing, and two network namespaces for the keepalive fixture.
#
#   scripts/record_fixtures.sh [OUTDIR]     # default: tests/fixtures/captures
#
# Every program has a timeout; every process and both namespaces are removed on any
# exit. The fixtures are checked in; CI does not run this.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../tests/fixtures/captures}
mkdir -p "$out"
peers=(timeout 30 python3 "$here/fixture_peers.py")
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del zwfix-a 2>/dev/null || true
    ip netns del zwfix-b 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT: until FILE contains TEXT, at most 10 s.
wait_for() {
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2 || true
    return 1
}

# capture NAME READY-TEXT COMMAND...: starts a capture and waits until it listens.
capture() {
    local name=$1 ready=$2
    shift 2
    "$@" 2>"$work/$name.cap.err" &
    cap=$!
    pids+=("$cap")
    wait_for "$work/$name.cap.err" "$ready"
}

stop_capture() {
    sleep 0.3
    kill -INT "$cap" 2>/dev/null || true
    wait "$cap" 2>/dev/null || true
}

tcpdump_on() { # NAME IFACE PORT [tcpdump flags...]
    local name=$1 iface=$2 port=$3
    shift 3
    capture "$name" "listening on" timeout 60 tcpdump -U --immediate-mode -n -i "$iface" -s 96 "$@" -w "$out/$name" "tcp port $port"
}

# pair NAME SERVER CLIENT: a capture on lo of two fixture peers on a free port.
pair() {
    local port; port=$(free_port)
    tcpdump_on "$1" lo "$port"
    "${peers[@]}" "$2" "$port" >"$work/$1.out" &
    pids+=($!)
    wait_for "$work/$1.out" listening
    "${peers[@]}" "$3" "$port" >/dev/null || true
    stop_capture
}

# The seed's failure: the 2014 naive Python client against a non-blocking sender
# that closes on EAGAIN. tcpdump -i any (Linux cooked v2), nanosecond pcap. The
# client's 4 KiB receive buffer and its printing keep the capture small (tens of
# KB): with a small sender buffer too, EAGAIN came from data in flight before any
# zero window (an abortive close without one).
naive_reset() {
    local port; port=$(free_port)
    tcpdump_on naive-reset-any.pcap any "$port" --time-stamp-precision nano
    timeout 30 python3 "$here/nonblocking_sender.py" --port "$port" >"$work/s.out" &
    pids+=($!)
    wait_for "$work/s.out" "port"
    timeout 30 python3 "$here/original_client.py" --host 127.0.0.1 --port "$port" --rcvbuf 4096 --verbose --timeout 10 >/dev/null 2>&1 || true
    stop_capture
}

# The same failure on the other route: the sender meets EAGAIN before the client's
# first reply arrives, so its close() finds nothing unread and queues a FIN behind
# the data the client's small window holds back; the reply then draws an RST that
# answers it (no ACK flag) and the FIN never reaches the wire. Both 4 KiB buffers;
# the route is a race, so it is recorded again (at most 40 times) until tshark shows
# the sender's RST without an ACK and no FIN from the sender. tcpdump -i lo.
fin_queued() {
    local port name=fin-queued-lo.pcap
    for _ in $(seq 40); do
        port=$(free_port)
        tcpdump_on "$name" lo "$port"
        timeout 30 python3 "$here/nonblocking_sender.py" --port "$port" --sndbuf 4096 >"$work/q.out" &
        pids+=($!)
        wait_for "$work/q.out" "port"
        timeout 30 python3 "$here/original_client.py" --host 127.0.0.1 --port "$port" --rcvbuf 4096 --timeout 10 >/dev/null 2>&1 || true
        stop_capture
        local rst fin
        rst=$(tshark -r "$out/$name" -Y "tcp.srcport == $port && tcp.flags.reset == 1 && tcp.flags.ack == 0" 2>/dev/null | wc -l)
        fin=$(tshark -r "$out/$name" -Y "tcp.srcport == $port && tcp.flags.fin == 1" 2>/dev/null | wc -l)
        [ "$rst" -ge 1 ] && [ "$fin" -eq 0 ] && return 0
    done
    echo "the queued-FIN route did not occur in 40 tries" >&2
    return 1
}

# A server that closes with SO_LINGER 0 (and unread data). tcpdump -i lo (Ethernet).
linger0() {
    pair linger0-lo.pcap server-linger0 client-send
}

# A connect to a port nothing listens on. tcpdump -i any.
refused() {
    local port; port=$(free_port)
    tcpdump_on refused-any.pcap any "$port"
    python3 -c "import socket,sys
try: socket.create_connection(('127.0.0.1', $port), timeout=5)
except ConnectionRefusedError: sys.exit(0)
sys.exit('connected?')"
    stop_capture
}

# A server that closes cleanly at once, and a client whose data comes after its FIN.
fin_then_rst() {
    pair fin-then-rst-lo.pcap server-fin client-late
}

# A clean exchange over IPv6, by tshark (pcapng).
clean_v6() {
    local port; port=$(free_port)
    capture clean-v6.pcapng "Capturing on" timeout 60 tshark -n -i lo -s 96 -F pcapng -f "tcp port $port" -w "$out/clean-v6.pcapng"
    "${peers[@]}" server-echo ::1 "$port" >"$work/e.out" &
    pids+=($!)
    wait_for "$work/e.out" listening
    "${peers[@]}" client-echo ::1 "$port" >/dev/null
    stop_capture
}

# A reader that stops reading, against a blocking writer: a zero window, persist
# probes, no reset. The capture ends before either program is killed. tshark, pcapng.
stall() {
    local port; port=$(free_port)
    capture stall-lo.pcapng "Capturing on" timeout 60 tshark -n -i lo -s 96 -F pcapng -f "tcp port $port" -w "$out/stall-lo.pcapng"
    "${peers[@]}" server-writer "$port" >"$work/w.out" 2>/dev/null &
    local w=$!
    pids+=("$w")
    wait_for "$work/w.out" listening
    "${peers[@]}" client-stall "$port" 2>/dev/null &
    local r=$!
    pids+=("$r")
    sleep 3
    stop_capture
    kill -9 "$w" "$r" 2>/dev/null || true
    wait "$w" "$r" 2>/dev/null || true
}

# A keepalive timeout across a veth pair whose far end is blackholed: the server's
# namespace routes the client's address to a blackhole after the connect, so the
# keep-alive probes arrive and their answers are dropped. tcpdump on the client's
# veth (Ethernet), in the client's namespace.
keepalive() {
    ip netns add zwfix-a
    ip netns add zwfix-b
    ip link add zwfa type veth peer name zwfb
    ip link set zwfa netns zwfix-a
    ip link set zwfb netns zwfix-b
    ip -n zwfix-a addr add 10.99.0.1/24 dev zwfa
    ip -n zwfix-b addr add 10.99.0.2/24 dev zwfb
    for ns in zwfix-a zwfix-b; do
        ip -n "$ns" link set lo up
    done
    ip -n zwfix-a link set zwfa up
    ip -n zwfix-b link set zwfb up
    capture keepalive-veth.pcap "listening on" timeout 60 ip netns exec zwfix-a tcpdump -U --immediate-mode -n -i zwfa -s 96 -w "$out/keepalive-veth.pcap" "tcp port 8000"
    ip netns exec zwfix-b "${peers[@]}" server-quiet 10.99.0.2 8000 >"$work/q.out" &
    pids+=($!)
    wait_for "$work/q.out" listening
    ip netns exec zwfix-a "${peers[@]}" client-keepalive 10.99.0.2 8000 >"$work/k.out" &
    local k=$!
    pids+=("$k")
    wait_for "$work/k.out" connected
    ip -n zwfix-b route add blackhole 10.99.0.1/32
    wait "$k" || true
    stop_capture
}

naive_reset
fin_queued
linger0
refused
fin_then_rst
clean_v6
stall
keepalive
chmod 644 "$out"/*
ls -l "$out"
