"""Client protocol end to end: JOIN / push / receive, PING, LEAVE, room limits, malformed input,
room isolation and push/all, with real websockets clients against the real binary.

Absence is never checked with a timer: after the push that must not arrive, a marker is pushed to a
room the client is in (or to all); the ring is totally ordered and each shard fans out in ring order,
so if the first push had been delivered it would be received before the marker."""

import asyncio
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (PONG, Server, collect_items, command, join, ping, push_items, recv_json,  # noqa: E402
                     ws_connect)


class PubSubTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(threads=2).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    async def asyncSetUp(self):
        self.clients = []

    async def asyncTearDown(self):
        for ws in self.clients:
            await ws.close()

    async def client(self):
        ws = await ws_connect(self.server.ws_url)
        self.clients.append(ws)
        return ws

    async def test_join_push_receive_form(self):
        ws = await self.client()
        await join(ws, "r")
        status, body = await self.server.apush_room("r", [1, 2])
        self.assertEqual(status, 200, body)
        self.assertIs(body["ok"], True)
        self.assertIsInstance(body["seq"], int)
        self.assertEqual(push_items(await recv_json(ws)), [1, 2])

    async def test_join_push_receive_json_body(self):
        ws = await self.client()
        await join(ws, "rj")
        body = json.dumps({"room": "rj", "items": [{"a": 1}, "two", 3.5, None, [True]]})
        status, answer = await asyncio.to_thread(self.server.api, "POST", "/push/room", body,
                                                 {"Content-Type": "application/json"})
        self.assertEqual(status, 200, answer)
        self.assertIs(answer["ok"], True)
        self.assertEqual(push_items(await recv_json(ws)), [{"a": 1}, "two", 3.5, None, [True]])
        # push/all with a JSON body reaches the same client.
        status, answer = await asyncio.to_thread(self.server.api, "POST", "/push/all",
                                                 json.dumps({"items": ["everyone"]}),
                                                 {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(status, 200, answer)
        self.assertEqual(push_items(await recv_json(ws)), ["everyone"])

    async def test_seq_increases(self):
        seqs = []
        for i in range(5):
            status, body = await self.server.apush_room("nobody-here", [i])
            self.assertEqual(status, 200, body)
            seqs.append(body["seq"])
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), len(seqs), seqs)

    async def test_ping_pong(self):
        ws = await self.client()
        await ws.send(json.dumps({"type": "PING", "data": {}}))
        self.assertEqual(await recv_json(ws), PONG)

    async def test_unknown_type_ignored(self):
        ws = await self.client()
        await ws.send(command("NOSUCHTYPE", x=1))
        await ws.send(json.dumps({"data": {}}))  # no type at all
        # The next message is the PONG: no ERROR, no close for the unknown command.
        await ws.send(json.dumps({"type": "PING", "data": {}}))
        self.assertEqual(await recv_json(ws), PONG)
        await ping(ws)

    async def test_repeat_join_delivers_once(self):
        ws = await self.client()
        await join(ws, "twice", "twice", "twice")
        await self.server.apush_room("twice", ["once"])
        await self.server.apush_all(["marker"])
        self.assertEqual(push_items(await recv_json(ws)), ["once"])
        self.assertEqual(push_items(await recv_json(ws)), ["marker"])

    async def test_leave_stops_delivery(self):
        leaver, stayer = await self.client(), await self.client()
        await join(leaver, "lv", "lv-other")
        await join(stayer, "lv")
        await self.server.apush_room("lv", ["before"])
        self.assertEqual(push_items(await recv_json(leaver)), ["before"])
        self.assertEqual(push_items(await recv_json(stayer)), ["before"])
        await leaver.send(command("LEAVE", room="lv"))
        await ping(leaver)
        await self.server.apush_room("lv", ["after"])
        await self.server.apush_room("lv-other", ["marker"])
        self.assertEqual(push_items(await recv_json(leaver)), ["marker"])
        self.assertEqual(push_items(await recv_json(stayer)), ["after"])
        # LEAVE of a room never joined is harmless.
        await leaver.send(command("LEAVE", room="never-joined"))
        await ping(leaver)

    async def test_room_limit(self):
        ws = await self.client()
        rooms = [f"lim{i}" for i in range(5)]
        await join(ws, *rooms)
        await ws.send(command("JOIN", room="lim5"))
        err = await recv_json(ws)
        self.assertEqual(err["type"], "ERROR", err)
        self.assertIn("code", err["data"])
        # Still open, and still a member of the first five, not of the sixth.
        await ping(ws)
        await self.server.apush_room("lim5", ["refused room"])
        await self.server.apush_room("lim4", ["kept room"])
        self.assertEqual(push_items(await recv_json(ws)), ["kept room"])
        # After a LEAVE there is room for another.
        await ws.send(command("LEAVE", room="lim0"))
        await join(ws, "lim5")
        await self.server.apush_room("lim5", ["now joined"])
        self.assertEqual(push_items(await recv_json(ws)), ["now joined"])

    async def test_join_bad_room_answers_error(self):
        ws = await self.client()
        await ws.send(json.dumps({"type": "JOIN", "data": {}}))
        err = await recv_json(ws)
        self.assertEqual(err["type"], "ERROR", err)
        await ws.send(command("JOIN", room="x" * 200))  # over room_name_bytes_max (128)
        err = await recv_json(ws)
        self.assertEqual(err["type"], "ERROR", err)
        await ping(ws)

    async def test_malformed_json_closes_1007(self):
        ws = await self.client()
        await ws.send('{"type":"PING",')
        with self.assertRaises(Exception):
            await asyncio.wait_for(ws.recv(), 15)
        await asyncio.wait_for(ws.wait_closed(), 15)
        self.assertEqual(ws.close_code, 1007)

    async def test_not_an_object_closes_1007(self):
        ws = await self.client()
        await ws.send('[1,2,3]')
        await asyncio.wait_for(ws.wait_closed(), 15)
        self.assertEqual(ws.close_code, 1007)

    async def test_binary_message_ignored(self):
        ws = await self.client()
        await ws.send(json.dumps({"type": "PING", "data": {}}).encode())  # binary frame
        await ws.send(json.dumps({"type": "PING", "data": {}}))
        self.assertEqual(await recv_json(ws), PONG)
        await self.server.apush_all(["marker"])
        # One PONG only: the binary PING was not answered (its PONG would have come first).
        self.assertEqual(push_items(await recv_json(ws)), ["marker"])

    async def test_room_isolation(self):
        a, b, c = await self.client(), await self.client(), await self.client()
        await join(a, "iso1")
        await join(b, "iso2")
        # c joins nothing: it still gets push/all.
        await ping(c)
        await self.server.apush_room("iso1", ["for a"])
        await self.server.apush_room("iso2", ["for b"])
        await self.server.apush_all(["for all"])
        self.assertEqual(push_items(await recv_json(a)), ["for a"])
        self.assertEqual(push_items(await recv_json(a)), ["for all"])
        self.assertEqual(push_items(await recv_json(b)), ["for b"])
        self.assertEqual(push_items(await recv_json(b)), ["for all"])
        self.assertEqual(push_items(await recv_json(c)), ["for all"])

    async def test_push_all_reaches_many_clients(self):
        clients = [await self.client() for _ in range(12)]
        for i, ws in enumerate(clients):
            if i % 2:
                await join(ws, f"some-room-{i}")
            else:
                await ping(ws)
        await self.server.apush_all(["a", "b"])
        for ws in clients:
            items, _ = await collect_items(ws, 2)
            self.assertEqual(items, ["a", "b"])

    async def test_unicode_room_and_items(self):
        ws = await self.client()
        await join(ws, "房间-ü")
        status, body = await self.server.apush_room("房间-ü", ["héllo", "世界", {"k": "\u2028"}])
        self.assertEqual(status, 200, body)
        self.assertEqual(push_items(await recv_json(ws)), ["héllo", "世界", {"k": "\u2028"}])


if __name__ == "__main__":
    unittest.main()
