"""--demo on the client port: the embedded page and files, /demo/stats, the rate-limited
/demo/publish, keep-alive between them and the upgrade; and that without --demo the client port
answers nothing but the upgrade (404 for everything else, as before)."""

import asyncio
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (HttpConn, RawWs, Server, http_request, join, recv_json, upgrade_request,  # noqa: E402
                     ws_connect)
from harness import push_items  # noqa: E402


def get(port, path, method="GET", headers=None, body=b""):
    with HttpConn(port) as conn:
        conn.send(http_request(method, path, body, headers))
        return conn.read_response()


def publish(port, room, text, conn=None):
    body = json.dumps({"room": room, "text": text})
    req = http_request("POST", "/demo/publish", body, {"Content-Type": "application/json"})
    if conn is not None:
        conn.send(req)
        return conn.read_response()
    with HttpConn(port) as c:
        c.send(req)
        return c.read_response()


class WithoutDemo(unittest.TestCase):
    def test_only_the_upgrade_is_served(self):
        with Server(threads=1) as server:
            for path in ("/", "/ringcast.js", "/demo/stats", "/demo.js"):
                r = get(server.ws_port, path)
                self.assertEqual(r.status, 404, path)
                self.assertEqual(r.header("content-type"), "application/json")
                self.assertIn("error", r.json())
            r = get(server.ws_port, "/demo/publish", "POST", {"Content-Type": "application/json"}, b"{}")
            self.assertEqual(r.status, 413)  # no body at all is taken without --demo, as before
            raw = RawWs(server.ws_port)  # and the upgrade still works
            raw.close()


class Demo(unittest.IsolatedAsyncioTestCase):
    def test_page_and_files(self):
        with Server("--demo", threads=1) as server:
            r = get(server.ws_port, "/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
            self.assertEqual(int(r.header("content-length")), len(r.body.encode()))
            self.assertEqual(r.header("cache-control"), "no-cache")
            self.assertIn("<title>ringcast", r.body)
            self.assertIn("/demo.js", r.body)
            for path, ctype, needle in (("/ringcast.js", "text/javascript; charset=utf-8", "export class RingcastClient"),
                                        ("/demo.js", "text/javascript; charset=utf-8", "/demo/publish"),
                                        ("/demo.css", "text/css; charset=utf-8", ".comment"),
                                        ("/favicon.svg", "image/svg+xml", "<svg")):
                r = get(server.ws_port, path)
                self.assertEqual(r.status, 200, path)
                self.assertEqual(r.header("content-type"), ctype, path)
                self.assertIn(needle, r.body, path)
            # The served client is the one in clients/js, byte for byte.
            here = os.path.dirname(os.path.abspath(__file__))
            with open(os.path.join(here, "..", "..", "clients", "js", "ringcast.js"), encoding="utf-8") as f:
                self.assertEqual(get(server.ws_port, "/ringcast.js").body, f.read())
            # HEAD: same head, no body.
            with HttpConn(server.ws_port) as conn:
                conn.send(http_request("HEAD", "/"))
                conn.sock.settimeout(5)
                while b"\r\n\r\n" not in conn.buf:
                    conn._fill()
                head, _, rest = conn.buf.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertIn(b"Content-Length: ", head)
                conn.send(http_request("GET", "/demo/stats"))  # kept alive: the next answer follows at once
                conn.buf = rest
                r = conn.read_response()
                self.assertEqual(r.status, 200)
                self.assertIn("onlineConnections", r.json())
            # Other methods on the page: 405 with Allow; unknown paths: 404 JSON.
            for method in ("POST", "PUT", "DELETE"):
                r = get(server.ws_port, "/", method)
                self.assertEqual(r.status, 405, method)
                self.assertEqual(r.header("allow"), "GET, HEAD")
            r = get(server.ws_port, "/demo/publish")
            self.assertEqual(r.status, 405)
            self.assertEqual(r.header("allow"), "POST")
            r = get(server.ws_port, "/nope")
            self.assertEqual(r.status, 404)
            self.assertIn("error", r.json())
            stats = server.stats()
            self.assertGreaterEqual(stats["demoRequests"], 10)

    async def test_upgrade_path_unchanged(self):
        with Server("--demo", threads=1) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, "up")
            await server.apush_room("up", [1])
            self.assertEqual((await recv_json(ws))["data"]["items"], [1])
            await ws.close()
            # A plain GET of the WebSocket path is still an upgrade error (426), not a page.
            r = get(server.ws_port, "/connect")
            self.assertEqual(r.status, 426)
            # A body on the upgrade request is refused as before.
            with HttpConn(server.ws_port) as conn:
                conn.send(upgrade_request(extra={"Content-Length": "3"}) + b"abc")
                self.assertEqual(conn.read_response().status, 413)

    async def test_page_requests_then_upgrade_on_one_connection(self):
        with Server("--demo", threads=1) as server:
            raw = RawWs(server.ws_port, handshake=False)
            raw.sock.sendall(http_request("GET", "/demo/stats"))
            head = raw.read_http_head()
            self.assertTrue(head.startswith("HTTP/1.1 200"), head)
            length = int([h for h in head.split("\r\n") if h.lower().startswith("content-length")][0].split(":")[1])
            while len(raw.buf) < length:
                raw._fill()
            raw.buf = raw.buf[length:]
            raw.sock.sendall(upgrade_request())
            self.assertTrue(raw.read_http_head().startswith("HTTP/1.1 101"))
            raw.send_text(json.dumps({"type": "JOIN", "data": {"room": "same"}}))
            raw.send_text(json.dumps({"type": "PING", "data": {}}))
            self.assertEqual(raw.recv_json()["type"], "PONG")
            await server.apush_room("same", ["x"])
            self.assertEqual(raw.recv_json()["data"]["items"], ["x"])
            raw.close()

    async def test_publish_reaches_the_room_and_is_limited(self):
        with Server("--demo", "--demo-publish-per-s", 2, "--demo-text-bytes-max", 20, threads=1) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, "lobby")
            r = await asyncio.to_thread(publish, server.ws_port, "lobby", 'hi "there" <b>')
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.json()["ok"])
            msg = await recv_json(ws)
            self.assertEqual(push_items(msg), [{"text": 'hi "there" <b>', "via": "demo"}])

            # Refusals: too long, not JSON, wrong type, bad room.
            self.assertEqual((await asyncio.to_thread(publish, server.ws_port, "lobby", "x" * 21)).status, 400)
            self.assertEqual((await asyncio.to_thread(publish, server.ws_port, "", "x")).status, 400)
            r = await asyncio.to_thread(get, server.ws_port, "/demo/publish", "POST",
                                        {"Content-Type": "application/x-www-form-urlencoded"}, b"room=a&text=b")
            self.assertEqual(r.status, 415)
            r = await asyncio.to_thread(get, server.ws_port, "/demo/publish", "POST",
                                        {"Content-Type": "application/json"}, b"{nope")
            self.assertEqual(r.status, 400)

            # One kept-alive connection: a burst of 2 x rate passes, then 429 with Retry-After.
            def burst():
                statuses = []
                with HttpConn(server.ws_port) as conn:
                    for i in range(8):
                        r = publish(server.ws_port, "lobby", f"m{i}", conn)
                        statuses.append(r.status)
                        if r.status == 429:
                            self.assertEqual(r.header("retry-after"), "1")
                return statuses
            statuses = await asyncio.to_thread(burst)
            self.assertEqual(statuses[:4], [200] * 4, statuses)
            self.assertIn(429, statuses)
            got = []
            while len(got) < 4:
                got += [i["text"] for i in (await recv_json(ws))["data"]["items"]]
            self.assertEqual(got, ["m0", "m1", "m2", "m3"])
            stats = await server.astats()
            self.assertEqual(stats["demoPublishes"], 1 + statuses.count(200))
            self.assertEqual(stats["demoPublishLimited"], statuses.count(429))
            # The per-shard bound holds across connections too.
            await ws.close()

    async def test_shard_limit_across_connections(self):
        with Server("--demo", "--demo-shard-publish-per-s", 3, threads=1) as server:
            statuses = [(await asyncio.to_thread(publish, server.ws_port, "r", f"c{i}")).status for i in range(10)]
            self.assertEqual(statuses[:6], [200] * 6, statuses)
            self.assertIn(429, statuses)

    def test_demo_stats(self):
        with Server("--demo", threads=2) as server:
            r = get(server.ws_port, "/demo/stats")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("content-type"), "application/json")
            body = r.json()
            for key in ("onlineConnections", "roomCount", "published", "itemsDelivered", "demoPublishes", "shards"):
                self.assertIsInstance(body[key], int, key)
            self.assertEqual(body["wsPath"], "/connect")
            self.assertEqual(body["api"], f"127.0.0.1:{server.api_port}")  # the bound port, not 0
            self.assertEqual(body["apiScheme"], "http")  # https when the API listener speaks TLS
            self.assertEqual(body["shards"], 2)
            server.push_all([1])
            self.assertEqual(get(server.ws_port, "/demo/stats").json()["published"], body["published"] + 1)

    def test_idle_kept_alive_connection_closes_quietly(self):
        with Server("--demo", "--handshake-timeout-ms", 300, threads=1) as server:
            with HttpConn(server.ws_port) as conn:
                conn.send(http_request("GET", "/demo/stats"))
                self.assertEqual(conn.read_response().status, 200)
                rest = conn.read_until_closed(timeout=5)
                self.assertEqual(rest, b"")  # closed without a 408
            self.assertEqual(server.stats()["handshakeTimeouts"], 0)


if __name__ == "__main__":
    unittest.main()
