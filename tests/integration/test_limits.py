"""Limits and the answer a client gets at each (docs/security.md lists them all, with the test of each):
with --conns-per-shard-max 2 on one shard the third connection is answered 503 with a JSON body and
closed, counted in /stats connsRefused; push API connections have their own budget
(--api-conns-per-shard-max: 503, apiConnsRefused), which a shard full of clients does not take; room
names outside the charset get an ERROR frame bad_room at JOIN and 400 at the push API."""

import asyncio
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (HttpConn, Server, command, form, http_request, join, ping, recv_json,  # noqa: E402
                     upgrade_request, ws_connect)


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

    async def test_api_connections_have_their_own_budget(self):
        with Server("--conns-per-shard-max", 1, "--api-conns-per-shard-max", 2, threads=1) as server:
            # A shard full of clients still answers the backend.
            a = await ws_connect(server.ws_url)
            await ping(a)
            first, second = HttpConn(server.api_port), HttpConn(server.api_port)
            for conn in (first, second):
                conn.send(http_request("GET", "/health"))
                self.assertEqual((await asyncio.to_thread(conn.read_response)).status, 200)
            # A third API connection is refused with a JSON answer and closed.
            with HttpConn(server.api_port) as third:
                third.send(http_request("GET", "/health"))
                r = await asyncio.to_thread(third.read_response)
                self.assertEqual(r.status, 503, r)
                self.assertIn("api_conns_per_shard_max", r.json()["error"])
                self.assertEqual(await asyncio.to_thread(third.read_until_closed, 10, True), b"")
            # The open ones keep working; once one closes, a new one gets in and sees the count.
            first.send(http_request("GET", "/health"))
            self.assertEqual((await asyncio.to_thread(first.read_response)).status, 200)
            first.close()
            stats = await asyncio.to_thread(stats_when_reachable, server)
            self.assertEqual(stats["apiConnsRefused"], 1, stats)
            second.close()
            await a.close()

    async def test_room_charset_ascii(self):
        with Server("--room-name-charset", "ascii", threads=1) as server:
            ws = await ws_connect(server.ws_url)
            before = (await server.astats())["joinsRefused"]
            for room in ("caf\u00e9", "a b"):
                await ws.send(command("JOIN", room=room))
                msg = await recv_json(ws)
                self.assertEqual(msg["type"], "ERROR", msg)
                self.assertEqual(msg["data"]["code"], "bad_room")
                self.assertIn("printable ASCII", msg["data"]["message"])
            await ws.send(command("JOIN", room="user:42/news.*"))
            await ping(ws)  # accepted, and the connection is kept
            self.assertEqual((await server.astats())["joinsRefused"], before + 2)
            status, body = await asyncio.to_thread(
                server.api, "POST", "/push/room", form(room="a b", items=[1]),
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 400)
            self.assertIn("printable ASCII", body["error"])
            self.assertEqual((await server.apush_room("user:42/news.*", [1]))[0], 200)
            self.assertEqual((await recv_json(ws))["data"]["items"], [1])
            await ws.close()

    async def test_room_charset_utf8_refuses_control_characters(self):
        with Server(threads=1) as server:
            ws = await ws_connect(server.ws_url)
            for room in ("a\u0085b", "a\u001b[31m", "a\u007f"):
                await ws.send(command("JOIN", room=room))
                msg = await recv_json(ws)
                self.assertEqual(msg["data"]["code"], "bad_room", room)
                status, body = await asyncio.to_thread(
                    server.api, "POST", "/push/room", json.dumps({"room": room, "items": [1]}),
                    {"Content-Type": "application/json"})
                self.assertEqual(status, 400, room)
            await ws.send(command("JOIN", room="caf\u00e9 \u2603"))
            await ping(ws)
            await ws.close()

    async def test_rooms_max_node_wide(self):
        with Server("--rooms-max", 16, "--rooms-per-conn-max", 20, threads=2) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, *[f"r{i}" for i in range(16)])
            await ws.send(command("JOIN", room="one-too-many"))
            msg = await recv_json(ws)
            self.assertEqual(msg["type"], "ERROR", msg)
            self.assertEqual(msg["data"]["code"], "too_many_rooms")
            self.assertIn("rooms_max", msg["data"]["message"])
            await ping(ws)  # kept
            self.assertGreaterEqual((await server.astats())["roomsRefused"], 1)
            # A room that already has members is not a new room: another client may join it.
            other = await ws_connect(server.ws_url)
            await join(other, "r3")
            await ws.close()
            await other.close()

    def test_api_head_size_and_request_time(self):
        with Server("--api-head-bytes-max", 512, "--api-idle-timeout-ms", 300, threads=1) as server:
            with HttpConn(server.api_port) as conn:
                conn.send(http_request("GET", "/stats", headers={"X-Pad": "p" * 600}))
                r = conn.read_response()
                self.assertEqual(r.status, 431, r)
                self.assertIn("error", r.json())
                self.assertEqual(conn.read_until_closed(10), b"")
            with HttpConn(server.api_port) as conn:
                conn.send(b"POST /push/all HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nitems")
                r = conn.read_response()  # the rest never comes
                self.assertEqual(r.status, 408, r)
                self.assertIn("error", r.json())
                self.assertEqual(conn.read_until_closed(10), b"")


if __name__ == "__main__":
    unittest.main()
