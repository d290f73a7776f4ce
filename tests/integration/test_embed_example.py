"""examples/embed (docs/embedding.md): an application that embeds ringcast::Engine, publishes from
its main thread every second, asks the room's presence, and stops cleanly. A real WebSocket client joins its room and receives
the ticks; SIGTERM stops it with exit 0 and close 1001 to the client."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import SANITIZER_MARKS, join, recv_json, ws_connect  # noqa: E402

EMBED_BIN = os.environ.get("RINGCAST_EMBED_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "examples", "embed")


class EmbedExampleTest(unittest.IsolatedAsyncioTestCase):
    async def test_ticks_reach_a_client_then_clean_stop(self):
        proc = subprocess.Popen([EMBED_BIN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        log = []
        try:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
            log.append(line)
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
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), 10)
            self.assertEqual(ws.close_code, 1001)
            rest = await asyncio.wait_for(asyncio.to_thread(proc.stdout.read), 20)
            log.append(rest)
            self.assertEqual(await asyncio.to_thread(proc.wait, 20), 0)
            text = "".join(log)
            self.assertIn("embed: stopped", text)
            self.assertRegex(text, r"tick \d+ published as seq \d+; 1 connection\(s\)")
            self.assertIn("embed: room ticks has 1 member(s)", text)  # Engine::room_presence
            for mark in SANITIZER_MARKS:
                self.assertNotIn(mark, text)
        except BaseException:
            sys.stderr.write("---- embed output ----\n" + "".join(log))
            raise
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    unittest.main()
