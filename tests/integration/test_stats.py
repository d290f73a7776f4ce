"""/stats (go-push names), /health and /metrics, and that the numbers follow what clients do."""

import asyncio
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import RawWs, Server, command, join, ping, recv_json, ws_connect  # noqa: E402


class StatsTest(unittest.IsolatedAsyncioTestCase):
    async def test_online_connections_follow_clients(self):
        with Server(threads=2) as server:
            stats = await server.astats()
            for name in ("onlineConnections", "roomCount", "sendMessageTotal", "sendMessageFail"):
                self.assertIn(name, stats)
                self.assertIsInstance(stats[name], int)
            self.assertEqual(stats["onlineConnections"], 0)
            clients = [await ws_connect(server.ws_url) for _ in range(6)]
            raw = RawWs(server.ws_port)
            await server.await_stat("onlineConnections", lambda v: v == 7)
            for ws in clients[:2]:
                await ws.close()
            await server.await_stat("onlineConnections", lambda v: v == 5)
            raw.abort()  # reset, no close frame
            await server.await_stat("onlineConnections", lambda v: v == 4)
            for ws in clients[2:]:
                await ws.close()
            await server.await_stat("onlineConnections", lambda v: v == 0)

    async def test_rooms_and_messages(self):
        with Server(threads=1) as server:
            a, b = await ws_connect(server.ws_url), await ws_connect(server.ws_url)
            await join(a, "s1", "s2")
            await join(b, "s2")
            await server.await_stat("roomCount", lambda v: v == 2)
            before = await server.astats()
            await server.apush_room("s2", ["x"])
            self.assertEqual((await recv_json(a))["data"]["items"], ["x"])
            self.assertEqual((await recv_json(b))["data"]["items"], ["x"])
            after = await server.await_stat("sendMessageTotal", lambda v: v >= before["sendMessageTotal"] + 2)
            self.assertEqual(after, before["sendMessageTotal"] + 2)
            await server.apush_all(["y"])
            await recv_json(a)
            await recv_json(b)
            await server.await_stat("sendMessageTotal", lambda v: v == before["sendMessageTotal"] + 4)
            stats = await server.astats()
            self.assertEqual(stats["sendMessageFail"], 0)
            self.assertGreaterEqual(stats["pushesAccepted"], 2)
            await a.send(command("LEAVE", room="s1"))
            await ping(a)
            await server.await_stat("roomCount", lambda v: v == 1)
            await a.close()
            await server.await_stat("roomCount", lambda v: v == 1)  # b is still in s2
            await b.close()
            await server.await_stat("roomCount", lambda v: v == 0)

    async def test_health_and_metrics(self):
        with Server(threads=2) as server:
            status, body = await asyncio.to_thread(server.api, "GET", "/health")
            self.assertEqual(status, 200)
            self.assertEqual(body, {"ok": True})
            ws = await ws_connect(server.ws_url)
            await ping(ws)
            status, headers, text = await asyncio.to_thread(server.api_full, "GET", "/metrics")
            self.assertEqual(status, 200)
            self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"), headers)
            self.assertIn("ringcast_ws_open", text)
            self.assertIn("# TYPE ringcast_ws_open gauge", text)
            samples = re.findall(r'^ringcast_ws_open\{shard="(\d+)"\} (\d+)$', text, re.M)
            self.assertEqual(sorted(s for s, _ in samples), ["0", "1"])
            self.assertEqual(sum(int(v) for _, v in samples), 1)
            # Every sample line is "name{labels} value" or "name value".
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    self.assertRegex(line, r'^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$')
            await ws.close()


if __name__ == "__main__":
    unittest.main()
