"""Heartbeat: with --heartbeat-timeout-ms 1000 a silent client is closed with 1001 and a reason
naming the heartbeat; a client that sends go-push PINGs (or only WebSocket pings) stays open."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, join, ping, ws_connect  # noqa: E402


class HeartbeatTest(unittest.IsolatedAsyncioTestCase):
    async def test_silent_closed_active_kept(self):
        with Server("--heartbeat-timeout-ms", 1000, threads=2) as server:
            silent = await ws_connect(server.ws_url)
            await join(silent, "hb")
            active = await ws_connect(server.ws_url)
            await join(active, "hb")
            control_pinger = await ws_connect(server.ws_url, ping_interval=0.3, ping_timeout=10)

            async def keep_pinging():
                loop = asyncio.get_running_loop()
                end = loop.time() + 3.5
                while loop.time() < end:
                    await ping(active)
                    await asyncio.sleep(0.3)

            pinger = asyncio.ensure_future(keep_pinging())
            # The silent one is closed by the server, with the reason.
            await asyncio.wait_for(silent.wait_closed(), 20)
            self.assertEqual(silent.close_code, 1001)
            self.assertIn("heartbeat", silent.close_reason)
            await pinger
            # Past 3 s, the active clients are still open and served.
            self.assertTrue(active.open)
            self.assertTrue(control_pinger.open)
            await ping(active)
            await ping(control_pinger)
            stats = await server.astats()
            self.assertEqual(stats["heartbeatTimeouts"], 1, stats)
            self.assertEqual(stats["onlineConnections"], 2, stats)
            # The silent client left its room: a push reaches only the active one.
            status, _ = await server.apush_room("hb", ["x"])
            self.assertEqual(status, 200)
            await active.close()
            await control_pinger.close()


if __name__ == "__main__":
    unittest.main()
