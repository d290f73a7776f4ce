"""Order and exactly-once across shards: 45 clients spread over the shards by SO_REUSEPORT, all in
room "o"; three concurrent publishers (pipelined bursts on a keep-alive connection, one request per
connection, keep-alive JSON bodies), each numbering its own items. Every client must receive every
item exactly once, each publisher's items in its order, and, the ring being one total order, every
client the very same sequence."""

import asyncio
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, collect_items, form, http_request, join, ws_connect  # noqa: E402

CLIENTS = 45
ROOM = "o"


def publisher_pipelined(server, p, count):
    """Bursts of 10 requests (1 or 2 items each) written at once on one keep-alive connection."""
    n = 0
    with HttpConn(server.api_port) as conn:
        while n < count:
            burst = []
            while n < count and len(burst) < 10:
                k = min(1 + n % 2, count - n)
                burst.append([{"p": p, "n": n + j} for j in range(k)])
                n += k
            conn.send(b"".join(http_request("POST", "/push/room", form(room=ROOM, items=items),
                                            {"Content-Type": "application/x-www-form-urlencoded"})
                               for items in burst))
            for _ in burst:
                r = conn.read_response()
                assert r.status == 200, r


def publisher_one_per_connection(server, p, count):
    """One request per TCP connection (urllib), 5 items each."""
    for start in range(0, count, 5):
        status, body = server.push_room(ROOM, [{"p": p, "n": n} for n in range(start, min(start + 5, count))])
        assert status == 200, body


def publisher_keepalive_json(server, p, count):
    """Sequential JSON-body requests on one keep-alive connection, 3 items each."""
    with HttpConn(server.api_port) as conn:
        for start in range(0, count, 3):
            body = json.dumps({"room": ROOM, "items": [{"p": p, "n": n} for n in range(start, min(start + 3, count))]})
            conn.send(http_request("POST", "/push/room", body, {"Content-Type": "application/json"}))
            r = conn.read_response()
            assert r.status == 200, r


PUBLISHERS = [(publisher_pipelined, 200), (publisher_one_per_connection, 150), (publisher_keepalive_json, 150)]


class OrderTest(unittest.IsolatedAsyncioTestCase):
    async def run_case(self, threads):
        with Server(threads=threads) as server:
            clients = await asyncio.gather(*[ws_connect(server.ws_url) for _ in range(CLIENTS)])
            await asyncio.gather(*[join(ws, ROOM) for ws in clients])
            # The clients really are spread over the shards (else this tests one shard only).
            metrics = (await asyncio.to_thread(server.api, "GET", "/metrics"))[1]
            per_shard = [int(v) for v in re.findall(r'^ringcast_ws_open\{shard="\d+"\} (\d+)$', metrics, re.M)]
            self.assertEqual(len(per_shard), threads, metrics)
            self.assertEqual(sum(per_shard), CLIENTS)
            self.assertTrue(all(n > 0 for n in per_shard), per_shard)

            total = sum(count for _, count in PUBLISHERS)
            receivers = [asyncio.ensure_future(collect_items(ws, total, timeout=120)) for ws in clients]
            await asyncio.gather(*[asyncio.to_thread(fn, server, p, count)
                                   for p, (fn, count) in enumerate(PUBLISHERS)])
            results = await asyncio.gather(*receivers)

            reference = None
            for items, _ in results:
                self.assertEqual(len(items), total)
                keys = [(it["p"], it["n"]) for it in items]
                self.assertEqual(len(set(keys)), total, "duplicates")
                for p, (_, count) in enumerate(PUBLISHERS):
                    self.assertEqual([n for q, n in keys if q == p], list(range(count)),
                                     f"publisher {p} out of order or incomplete")
                if reference is None:
                    reference = keys
                self.assertEqual(keys, reference, "clients saw different orders")
            # Nothing more arrives: the marker is the next message for everyone.
            await server.apush_room(ROOM, ["end"])
            for ws in clients:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                self.assertEqual(msg["data"]["items"], ["end"])
            stats = await server.astats()
            self.assertEqual(stats["sendMessageFail"], 0)
            await asyncio.gather(*[ws.close() for ws in clients])

    async def test_two_shards(self):
        await self.run_case(2)

    async def test_four_shards(self):
        await self.run_case(4)


if __name__ == "__main__":
    unittest.main()
