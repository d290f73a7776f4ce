"""Connection limits: with --conns-per-shard-max 2 on one shard the third connection is answered
503 with a JSON body and closed, and counted in /stats connsRefused."""

import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, ping, upgrade_request, ws_connect  # noqa: E402


def stats_when_reachable(server, timeout=20.0):
    """/stats, retried while the shard is still full (the API shares the shard's slots)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = server.api("GET", "/stats")
        if status == 200:
            return body
        assert status == 503 and time.monotonic() < deadline, (status, body)
        time.sleep(0.05)


class LimitsTest(unittest.IsolatedAsyncioTestCase):
    async def test_third_connection_refused_503(self):
        with Server("--conns-per-shard-max", 2, threads=1) as server:
            a = await ws_connect(server.ws_url)
            b = await ws_connect(server.ws_url)
            await ping(a)
            await ping(b)
            with HttpConn(server.ws_port) as conn:
                conn.send(upgrade_request())
                r = await asyncio.to_thread(conn.read_response)
                self.assertEqual(r.status, 503, r)
                self.assertIn("error", r.json())
                # Refused without a slot, so without lingering: the close may come as a reset.
                self.assertEqual(await asyncio.to_thread(conn.read_until_closed, 10, True), b"")
            # The two admitted clients are unaffected.
            await ping(a)
            await ping(b)
            await b.close()
            stats = await asyncio.to_thread(stats_when_reachable, server)
            self.assertGreaterEqual(stats["connsRefused"], 1, stats)
            # A slot is free again: a new client gets in.
            c = await ws_connect(server.ws_url)
            await ping(c)
            await a.close()
            await c.close()


if __name__ == "__main__":
    unittest.main()
