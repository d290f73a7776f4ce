#!/usr/bin/python3
"""Server memory per idle connection, with permessage-deflate negotiated and without (issue 15: a
deflate member must cost no more than a plain one: no compressor state per connection).

Starts ringcast (one shard), opens N raw WebSocket connections that offer permessage-deflate (or do
not), has each JOIN a room (the deflate ones with a compressed JOIN, so the inflate path has run on
every connection), publishes one push that every member receives (compressed for the deflate ones),
then reads the server's RssAnon a second later (idle). The two modes alternate, --reps each, in one
run; the report is the median growth per connection of each and their ratio.

    bench/deflate_memory.py [--bin build/tools/ringcast] [--conns 8000] [--reps 3]
"""

import argparse
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
import zlib

OFFER = "permessage-deflate; client_max_window_bits"


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))


def client_frame(payload, rsv1=False):
    head = bytes([0x81 | (0x40 if rsv1 else 0)])
    n = len(payload)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def compress(payload):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def read_until(sock, marker):
    buf = b""
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        buf += chunk
    return buf


def open_conns(host, port, n, deflate):
    join = b'{"type":"JOIN","data":{"room":"mem"}}'
    frame = client_frame(compress(join), rsv1=True) if deflate else client_frame(join)
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        ext = f"Sec-WebSocket-Extensions: {OFFER}\r\n" if deflate else ""
        s.sendall((f"GET /connect HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n").encode())
        head = read_until(s, b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0] or (b"permessage-deflate" in head) != deflate:
            raise RuntimeError(f"unexpected answer: {head[:300]!r}")
        s.sendall(frame)
        conns.append(s)
    return conns


def run_once(binary, conns_n, deflate):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--threads", "1",
                             "--heartbeat-timeout-ms", "600000", "--log-level", "info"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        while "serving:" not in line:
            if not line:
                raise RuntimeError("ringcast did not start")
            line = proc.stdout.readline()
        ws_port = int(re.search(r"ws://[^:]+:(\d+)", line).group(1))
        api = re.search(r"push API (http://[^ ,]+)", line).group(1)
        time.sleep(0.2)
        before = rss_anon_kb(proc.pid)
        conns = open_conns("127.0.0.1", ws_port, conns_n, deflate)

        def stat(name):
            return json.loads(urllib.request.urlopen(api + "/stats").read())[name]

        while stat("joins") < conns_n:
            time.sleep(0.1)
        items = [{"uid": i, "name": f"viewer{i}", "text": "what a goal, replay please " * 3} for i in range(5)]
        body = json.dumps({"room": "mem", "items": items}).encode()
        urllib.request.urlopen(urllib.request.Request(api + "/push/room", data=body,
                                                      headers={"Content-Type": "application/json"})).read()
        for s in conns:  # every member got its push: the frames were built, queued and sent
            read_until(s, b"}")
        while stat("framesSent") < conns_n:
            time.sleep(0.1)
        # Idle now: within two of the shard's periodic checks (0.1 s each) its queue chunks go back
        # to the kernel (Frames::trim_idle_chunks), so this reads what an idle connection keeps.
        time.sleep(1.0)
        after = rss_anon_kb(proc.pid)
        negotiated = stat("deflateNegotiated")
        for s in conns:
            s.close()
        return (after - before) * 1024 / conns_n, negotiated
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("RINGCAST_BIN", "build/tools/ringcast"))
    ap.add_argument("--conns", type=int, default=8000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    per_conn = {False: [], True: []}
    for rep in range(args.reps):
        for deflate in (False, True):
            b, negotiated = run_once(args.bin, args.conns, deflate)
            assert negotiated == (args.conns if deflate else 0), negotiated
            per_conn[deflate].append(b)
            print(f"rep {rep + 1} {'deflate' if deflate else 'plain  '}: {b:7.1f} B of RssAnon per connection",
                  flush=True)
    plain, comp = statistics.median(per_conn[False]), statistics.median(per_conn[True])
    print(f"median over {args.reps}: plain {plain:.1f} B, deflate {comp:.1f} B per idle connection "
          f"({args.conns} connections); deflate/plain = {comp / plain:.3f}")


if __name__ == "__main__":
    sys.exit(main())
