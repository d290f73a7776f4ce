"""Slow consumer: a client that joins and then never reads is cut (1008, counted) once its backlog
passes --out-queue-bytes-max, while a normal client in the same room receives every item."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (PING, HttpConn, RawWs, Server, collect_items, command, form, http_request,  # noqa: E402
                     join, recv_json, ws_connect)

ITEM = "x" * 1000
ITEMS_PER_PUSH = 25   # ~25 KB per push, under --api-body-bytes-max 32768
PUSHES = 320          # ~8 MB: more than the kernel's socket buffers can hide


async def publish_paced(server, normal, window=2):
    """Publishes PUSHES pushes on one keep-alive connection, never more than `window` pushes (~50 KB,
    under the 64 KiB limit) ahead of what `normal` has received, so the normal client can never be
    the one over the limit, however slowly this machine runs it. Returns the items `normal` got."""
    items = []
    with HttpConn(server.api_port) as conn:
        for i in range(PUSHES):
            while len(items) < (i - window + 1) * ITEMS_PER_PUSH:
                msg = await recv_json(normal, 60)
                assert msg["type"] == "PUSH", msg
                items.extend(msg["data"]["items"])
            conn.send(http_request("POST", "/push/room",
                                   form(room="slow", items=[[i, j, ITEM] for j in range(ITEMS_PER_PUSH)]),
                                   {"Content-Type": "application/x-www-form-urlencoded"}))
            r = await asyncio.to_thread(conn.read_response)
            assert r.status == 200, r
    more, _ = await collect_items(normal, PUSHES * ITEMS_PER_PUSH - len(items), timeout=60)
    return items + more


class SlowConsumerTest(unittest.IsolatedAsyncioTestCase):
    async def test_slow_consumer_is_cut_others_served(self):
        flags = ["--out-queue-bytes-max", 65536, "--api-body-bytes-max", 32768, "--merge-frame-bytes-max", 32768]
        with Server(*flags, threads=2) as server:
            slow = RawWs(server.ws_port, rcvbuf=4096)
            slow.send_text(command("JOIN", room="slow"))
            slow.send_text(PING)
            self.assertEqual(slow.recv_json()["type"], "PONG")
            # From here on `slow` never reads.
            normal = await ws_connect(server.ws_url)
            await join(normal, "slow")
            await server.await_stat("onlineConnections", lambda v: v == 2)

            items = await publish_paced(server, normal)
            self.assertEqual([(it[0], it[1]) for it in items],
                             [(i, j) for i in range(PUSHES) for j in range(ITEMS_PER_PUSH)])
            self.assertTrue(all(it[2] == ITEM for it in items))

            await server.await_stat("closeSlowConsumer", lambda v: v >= 1, timeout=30)
            stats = await server.astats()
            self.assertGreater(stats["framesDropped"], 0, stats)
            self.assertGreater(stats["sendMessageFail"], 0, stats)
            # The cut client is gone from the gauge (the normal one stays).
            await server.await_stat("onlineConnections", lambda v: v == 1)
            await normal.close()
            slow.close()


if __name__ == "__main__":
    unittest.main()
