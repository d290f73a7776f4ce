"""Configuration: a go-push style JSON file is honoured (its comment keys only warned about), flags
override the file wherever they stand, and bad values or flags stop the server with exit code 2 and
a message naming the key."""

import asyncio
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, command, join, recv_json, run_ringcast, ws_connect  # noqa: E402

GO_PUSH = {"wsPort": 0, "maxJoinRoom": 2, "wsHeartbeatInterval": 60, "websocket监听端口": "comment"}


class ConfigTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def config_file(self, content, name="gateway.json"):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
        return path

    async def joins_allowed(self, server, limit_probe=6):
        """How many JOINs one connection gets before an ERROR."""
        ws = await ws_connect(server.ws_url)
        try:
            for i in range(limit_probe):
                await ws.send(command("JOIN", room=f"cfg{i}"))
                await ws.send(command("PING"))
                msg = await recv_json(ws)
                if msg["type"] == "ERROR":
                    self.assertEqual(await recv_json(ws), {"type": "PONG", "data": {}})
                    return i
                self.assertEqual(msg, {"type": "PONG", "data": {}})
            return limit_probe
        finally:
            await ws.close()

    async def test_go_push_file_honoured(self):
        path = self.config_file(GO_PUSH)
        with Server("--config", path, threads=1) as server:
            self.assertEqual(await self.joins_allowed(server), 2)
            self.assertIn("websocket监听端口", server.log())  # the comment key: warned about
            self.assertIn("ignored", server.log())

    async def test_flags_override_file(self):
        path = self.config_file(GO_PUSH)
        with Server("--config", path, "--rooms-per-conn-max", 4, threads=1) as server:
            self.assertEqual(await self.joins_allowed(server), 4)
        # A flag given before --config wins too.
        with Server("--rooms-per-conn-max", 3, "--config", path, threads=1) as server:
            self.assertEqual(await self.joins_allowed(server), 3)

    async def test_our_keys_in_file(self):
        path = self.config_file({"rooms_per_conn_max": 1, "merge_window_ms": 0})
        with Server(f"--config={path}", threads=1) as server:
            self.assertEqual(await self.joins_allowed(server), 1)

    async def test_go_push_heartbeat_seconds(self):
        path = self.config_file({"wsHeartbeatInterval": 1})
        with Server("--config", path, threads=1) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, "hb")
            await asyncio.wait_for(ws.wait_closed(), 20)
            self.assertEqual(ws.close_code, 1001)

    def refused(self, *args, mentions=()):
        p = run_ringcast(*args)
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        for word in mentions:
            self.assertIn(word, p.stderr)
        self.assertNotIn("serving", p.stdout + p.stderr)
        return p

    def test_invalid_values_exit_2(self):
        cases = [({"maxJoinRoom": -1}, "maxJoinRoom"), ({"maxJoinRoom": "five"}, "maxJoinRoom"),
                 ({"maxJoinRoom": 0}, "maxJoinRoom"), ({"maxJoinRoom": 1.5}, "maxJoinRoom"),
                 ({"heartbeat_timeout_ms": 10}, "heartbeat_timeout_ms"), ({"listen": "nowhere"}, "listen"),
                 ({"ring_bytes": 100000}, "ring_bytes")]
        for content, key in cases:
            with self.subTest(content=content):
                self.refused("--config", self.config_file(content), mentions=[key])

    def test_bad_files_exit_2(self):
        self.refused("--config", self.config_file("{not json"))
        self.refused("--config", self.config_file("[1, 2]"))
        self.refused("--config", os.path.join(self.dir.name, "missing.json"), mentions=["missing.json"])
        self.refused("--config")

    def test_bad_flags_exit_2(self):
        self.refused("--no-such-flag", "1", mentions=["--no-such-flag"])
        self.refused("--rooms-per-conn-max", "abc", mentions=["rooms-per-conn-max"])
        self.refused("--rooms-per-conn-max", mentions=["rooms-per-conn-max"])
        self.refused("--threads", "-3", mentions=["threads"])
        self.refused("stray-argument")
        # A relation between values: the message names the keys.
        self.refused("--out-queue-bytes-max", "65536", mentions=["out_queue_bytes_max"])

    def test_help_exits_0(self):
        p = run_ringcast("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--rooms-per-conn-max", "--heartbeat-timeout-ms", "maxJoinRoom", "--config"):
            self.assertIn(flag, p.stdout)


if __name__ == "__main__":
    unittest.main()
