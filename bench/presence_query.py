#!/usr/bin/python3
"""Times real presence requests: starts ringcast (--threads 2 by default, or --workers), connects
N WebSocket clients (SO_REUSEPORT spreads them over the shards), binds each to one of U user ids,
joins them all to one room, then times GET /rooms/big, GET /rooms/big?users=1 (pages of 100 and
1000) and GET /rooms on one keep-alive connection: each request asks every other shard through the
presence mailbox. With --nodes N > 1 it runs a cluster instead (a nats-server and N nodes, the clients
spread over them, the requests asked of the first node: each also asks the other nodes over NATS).
Prints min/median/p99 per request kind. Figures only.

  bench/presence_query.py [--bin build/tools/ringcast] [--conns 4000] [--users 1000] [--requests 300]
                          [--threads 2] [--workers 0] [--nodes 1]
"""

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))


async def connect_all(url, conns, users):
    import websockets  # noqa: PLC0415
    clients = []
    for i in range(conns):
        ws = await websockets.connect(url, ping_interval=None, max_size=None, open_timeout=30)
        await ws.send(json.dumps({"type": "BIND", "data": {"uid": "user-%06d" % (i % users)}}))
        await ws.send(json.dumps({"type": "JOIN", "data": {"room": "big"}}))
        await ws.send(json.dumps({"type": "PING", "data": {}}))
        clients.append(ws)
    for ws in clients:
        while json.loads(await ws.recv())["type"] != "PONG":
            pass
    return clients


def time_requests(port, path, n):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    body = None
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1e6)
        assert r.status == 200, (r.status, body)
    conn.close()
    times.sort()
    return times, json.loads(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "tools", "ringcast"))
    ap.add_argument("--conns", type=int, default=4000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--nodes", type=int, default=1)
    a = ap.parse_args()
    os.environ["RINGCAST_BIN"] = os.path.abspath(a.bin)
    from harness import Server  # noqa: PLC0415
    extra = ["--user-bind-command", "--heartbeat-timeout-ms", "600000"]
    if a.workers:
        extra += ["--workers", a.workers]
    nats, nodes = None, []
    if a.nodes > 1:
        from natsd import NatsServer, nats_flags  # noqa: PLC0415
        nats = NatsServer(cluster=False).start()
        extra += nats_flags(nats)
    for i in range(a.nodes):
        nodes.append(Server(*extra, *(["--node-id", str(i + 1)] if nats else []), threads=a.threads))
        nodes[-1].start()
    server = nodes[0]
    try:
        loop = asyncio.new_event_loop()
        clients = []
        for i, node in enumerate(nodes):
            share = a.conns // a.nodes + (1 if i < a.conns % a.nodes else 0)
            clients += loop.run_until_complete(connect_all(node.ws_url, share, a.users))
        if nats:
            # The first node has heard of every other (their announcements) when it counts them all.
            deadline = time.monotonic() + 20
            while server.api("GET", "/rooms/big")[1].get("nodes") != a.nodes and time.monotonic() < deadline:
                time.sleep(0.05)
        print(f"{a.conns} connections, {a.users} users, {a.nodes} node(s) of {a.threads} threads x "
              f"{max(a.workers, 1)} processes")
        for path in ("/rooms/big", "/rooms/big?users=1", "/rooms/big?users=1&limit=1000", "/rooms"):
            times, body = time_requests(server.api_port, path, a.requests)
            summary = {k: body[k] for k in ("members",) if k in body}
            if "users" in body:
                summary["page"] = len(body["users"])
            if "rooms" in body:
                summary["rooms"] = body["rooms"]
            if "nodes" in body:
                summary["nodes"] = body["nodes"]
                summary["partial"] = body["partial"]
            print(f"GET {path:32s} min {times[0]:7.0f} us  median {statistics.median(times):7.0f} us  "
                  f"p99 {times[int(len(times) * 0.99) - 1]:7.0f} us  {summary}")
        for ws in clients:
            loop.run_until_complete(ws.close())
        loop.close()
    finally:
        for node in nodes:
            node.stop()
        if nats:
            nats.stop()


if __name__ == "__main__":
    main()
