"""examples/embed (docs/embedding.md): an application that embeds ringcast::Engine, publishes from
its main thread every second, asks the room's presence, and stops cleanly. A real WebSocket client joins its room and receives
the ticks; SIGTERM stops it with exit 0 and close 1001 to the client."""

import asyncio
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import ExampleProgram, join, recv_json, ws_connect  # noqa: E402


class EmbedExampleTest(unittest.IsolatedAsyncioTestCase):
    async def test_ticks_reach_a_client_then_clean_stop(self):
        async with ExampleProgram("RINGCAST_EMBED_BIN", "embed") as program:
            line = program.first_line
            m = re.search(r"serving ws://127\.0\.0\.1:(\d+)/connect", line)
            self.assertIsNotNone(m, line)
            ws = await ws_connect(f"ws://127.0.0.1:{m.group(1)}/connect")
            await join(ws, "ticks")
            ticks = []
            while len(ticks) < 2:
                msg = await recv_json(ws, timeout=5)
                self.assertEqual(msg["type"], "PUSH")
                ticks += [item["tick"] for item in msg["data"]["items"]]
            self.assertEqual(ticks[1], ticks[0] + 1)
            program.stop()
            await asyncio.wait_for(ws.wait_closed(), 10)
            self.assertEqual(ws.close_code, 1001)
            text = await program.finish()  # exit 0, no sanitizer report
            self.assertIn("embed: stopped", text)
            self.assertRegex(text, r"tick \d+ published as seq \d+; 1 connection\(s\)")
            self.assertIn("embed: room ticks has 1 member(s)", text)  # Engine::room_presence


if __name__ == "__main__":
    unittest.main()
