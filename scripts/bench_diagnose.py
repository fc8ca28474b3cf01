#!/usr/bin/env python3
"""Benchmark (not a test) of `zerowin diagnose` against `tshark -r FILE -q -z conv,tcp`,
the closest thing users run today, on one generated capture of the 2014 failure.

How the capture is made: the fixture tests/fixtures/captures/naive-reset-any.pcap (a real
tcpdump -i any capture of the seed's naive Python client against a non-blocking sender;
Linux cooked v2, snap length 96) is repeated until the file reaches SIZE_MB, each copy on a
client address and port of its own and shifted in time after the one before, so every copy
is one more connection that ends in the same abortive close after a zero window.

How it is measured: after one read of the file by cat (so every read comes from the page
cache), the two tools read it in turn, READS times each (3), alternating which goes first;
wall time with time.monotonic(), peak RSS from getrusage(RUSAGE_CHILDREN) of a child that
runs only that tool. MB/s is the file's size over the median wall time; the ratio is of the
median times. zerowin also reads a quarter-size file the same way, to show how its memory
grows with the capture's size, and reads the full-size file once more with --export-json
/dev/null, which keeps every connection whole (up to KEEP_MAX) where the text report keeps
only what it shows.

    python3 scripts/bench_diagnose.py target/release/zerowin [SIZE_MB] [READS]

NO_TSHARK=1 leaves tshark out (it held about 6 GB for 1 GB: a larger file, read only to see
zerowin's memory level off past KEEP_MAX connections, would not fit beside it).
"""
import statistics
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "captures", "naive-reset-any.pcap")


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    header, rest = data[:24], data[24:]
    assert struct.unpack("<I", header[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D), "a little-endian pcap"
    out = []
    while rest:
        sec, frac, incl, orig = struct.unpack("<IIII", rest[:16])
        out.append((sec, frac, orig, bytearray(rest[16 : 16 + incl])))
        rest = rest[16 + incl :]
    return header, out


def generate(path, size_mb):
    header, fr = frames(FIXTURE)
    # Linux cooked v2: 20 bytes, then IPv4. Source/destination at 12/16, ports after ihl.
    ihl = (fr[0][3][20] & 0x0F) * 4
    client_port = struct.unpack(">H", fr[0][3][20 + ihl : 22 + ihl])[0]
    t0 = fr[0][0] * 10**9 + fr[0][1]
    span = fr[-1][0] * 10**9 + fr[-1][1] - t0 + 1_000_000
    target = size_mb * 1_000_000
    written = 0
    copies = 0
    with open(path, "wb") as f:
        f.write(header)
        written += len(header)
        while written < target:
            copies += 1
            port = 1024 + copies % 60000
            addr = struct.pack(">I", 0x7F000000 + 2 + copies // 60000)
            shift = copies * span
            for sec, frac, orig, d in fr:
                d = bytearray(d)
                src_port = struct.unpack(">H", d[20 + ihl : 22 + ihl])[0]
                if src_port == client_port:
                    d[20 + 12 : 20 + 16] = addr
                    d[20 + ihl : 22 + ihl] = struct.pack(">H", port)
                else:
                    d[20 + 16 : 20 + 20] = addr
                    d[22 + ihl : 24 + ihl] = struct.pack(">H", port)
                t = sec * 10**9 + frac - t0 + shift + 1_700_000_000 * 10**9
                rec = struct.pack("<IIII", t // 10**9, t % 10**9, len(d), orig) + bytes(d)
                f.write(rec)
                written += len(rec)
    return copies


def measure(cmd):
    """Wall seconds and peak RSS (MB) of cmd, run in a child of its own."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        start = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - start
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        os.write(w, f"{wall} {rss} {p.returncode}".encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 100).decode().split()
    os.waitpid(pid, 0)
    return float(data[0]), float(data[1]), int(data[2])


def median_of(runs):
    """(median wall, max peak RSS, the exit codes) of measure() results."""
    return (
        statistics.median(r[0] for r in runs),
        max(r[1] for r in runs),
        sorted({r[2] for r in runs}),
    )


def main():
    zw = sys.argv[1]
    size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    reads = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with tempfile.TemporaryDirectory() as d:
        rows = []
        for mb in (size_mb // 4, size_mb):
            path = os.path.join(d, f"c{mb}.pcap")
            copies = generate(path, mb)
            real_mb = os.path.getsize(path) / 1e6
            subprocess.run(["cat", path], stdout=subprocess.DEVNULL)  # warm the page cache
            zw_cmd = [zw, "diagnose", "--quiet", path]
            json_cmd = [zw, "diagnose", "--quiet", "--export-json", "/dev/null", path]
            ts_cmd = ["tshark", "-r", path, "-q", "-z", "conv,tcp"]
            zw_runs, json_runs, ts_runs = [], [], []
            for i in range(reads):
                order = [(zw_cmd, zw_runs), (json_cmd, json_runs), (ts_cmd, ts_runs)]
                if mb != size_mb:
                    order = order[:1]
                elif os.environ.get("NO_TSHARK") == "1":
                    order = order[:2]
                for cmd, runs in order if i % 2 == 0 else reversed(order):
                    runs.append(measure(cmd))
            zw_wall, zw_rss, zw_rc = median_of(zw_runs)
            ts = median_of(ts_runs) if ts_runs else (None, None, None)
            js = median_of(json_runs) if json_runs else None
            rows.append((real_mb, copies, zw_wall, zw_rss, zw_rc, ts, js))
            os.unlink(path)
    print(f"== diagnose: generated captures of the 2014 failure (copies of {os.path.basename(FIXTURE)}), {reads} reads each, medians")
    for real_mb, copies, zw_wall, zw_rss, zw_rc, (t_wall, t_rss, t_rc), js in rows:
        line = (
            f"  {real_mb:.0f} MB, {copies} connections: zerowin diagnose {zw_wall:.2f} s"
            f" ({real_mb / zw_wall:.0f} MB/s), peak RSS {zw_rss:.0f} MB (exit {zw_rc})"
        )
        if js is not None:
            line += f"; with --export-json {js[0]:.2f} s, peak RSS {js[1]:.0f} MB (exit {js[2]})"
        if t_wall is not None:
            line += (
                f"; tshark -q -z conv,tcp {t_wall:.2f} s ({real_mb / t_wall:.0f} MB/s),"
                f" peak RSS {t_rss:.0f} MB (exit {t_rc}); zerowin/tshark throughput {t_wall / zw_wall:.1f}x"
                " (goal >= 5x)"
            )
        print(line)


if __name__ == "__main__":
    main()
