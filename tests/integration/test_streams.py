"""Server-Sent Events (GET /sse) and NDJSON streaming (GET /stream) against the real server: python's
http.client and `curl -N` read the chunked streams in a room shared with go-push and Nano/Pomelo
WebSocket members (every item exactly once, in order, on every transport); resume by Last-Event-ID and
since (replayed exactly once, or a joined event with recovered:false); refusals with their status and
JSON error (bad queries 400, a token outside its rooms 403, no token 401, a foreign Origin 403), CORS
headers and the preflight; a slow SSE reader cut and counted while a fast one gets everything; the
gauges; heartbeats; the close event and last chunk at shutdown. Nothing is timed: every wait is for
an event the test expects."""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, join, raw_connect, recv_json, ws_connect  # noqa: E402
from nano_client import nano_connect  # noqa: E402
from stream_client import NdjsonClient, SseClient, ndjson_items, sse_items  # noqa: E402

import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402

SECRET = "stream-test-secret-of-at-least-32-bytes"


def make_token(claims, secret=SECRET):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    return signing + "." + b64(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())


def numbered(items):
    """The test's own items ({"i": k}), in the order received: presence or chat items are left out."""
    return [it["i"] for it in items if isinstance(it, dict) and "i" in it]


def joined_event(client):
    """Reads SSE events up to the first joined event; returns it."""
    while True:
        e = client.next_event()
        assert e is not None, "stream ended before the joined event"
        if e["event"] == "joined":
            return e


class CurlStream:
    """`curl -N` reading an NDJSON stream: its stdout lines, read by a thread."""

    def __init__(self, url):
        self.proc = subprocess.Popen(["curl", "-sS", "-N", "--fail", url], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(json.loads(line))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_for(self, predicate, timeout=30.0):
        with self.cond:
            self.cond.wait_for(lambda: any(m is None or predicate(m) for m in self.lines), timeout)
            assert any(m is not None and predicate(m) for m in self.lines), self.lines[-3:]

    def items(self):
        return [it for m in self.lines if m and m["type"] == "PUSH" for it in m["data"]["items"]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)


class MixedRoomTest(unittest.IsolatedAsyncioTestCase):
    async def test_every_transport_gets_every_item_once_in_order(self):
        count = 300
        with Server(threads=2) as server:
            nano = await nano_connect(f"ws://127.0.0.1:{server.ws_port}/nano")
            self.assertEqual((await nano.request("room.join", {"room": "mix", "uid": "nan"}))["code"], 0)
            gopush = [await ws_connect(server.ws_url) for _ in range(2)]
            for ws in gopush:
                await join(ws, "mix")
            sse = await asyncio.to_thread(SseClient, server.ws_port, "/sse?room=mix")
            self.assertEqual(sse.status, 200)
            self.assertTrue(sse.headers["Content-Type"].startswith("text/event-stream"))
            self.assertEqual(sse.headers["Transfer-Encoding"], "chunked")
            joined = await asyncio.to_thread(joined_event, sse)
            self.assertEqual(joined["data"]["room"], "mix")
            self.assertTrue(joined["data"]["recovered"])
            self.assertEqual(joined["id"], str(joined["data"]["seq"]))
            self.assertEqual(len(joined["data"]["epoch"]), 16)
            self.assertEqual(sse.retry_ms, 2000)
            nd = await asyncio.to_thread(NdjsonClient, server.ws_port, "/stream?room=mix")
            self.assertEqual(nd.headers["Content-Type"], "application/x-ndjson")
            first = await asyncio.to_thread(nd.next_message)
            self.assertEqual(first["type"], "JOINED")
            curl = None
            if shutil.which("curl"):
                curl = CurlStream(f"http://127.0.0.1:{server.ws_port}/stream?room=mix")
                await asyncio.to_thread(curl.wait_for, lambda m: m["type"] == "JOINED")
            await server.await_stat("streamOpen", lambda v: v == (2 if curl else 1))
            stats = await server.astats()
            self.assertEqual(stats["sseOpen"], 1)
            self.assertEqual(stats["wsOpen"], 3)
            self.assertEqual(stats["onlineConnections"], stats["wsOpen"] + stats["sseOpen"] + stats["streamOpen"])
            # Presence counts the stream members with the WebSocket ones.
            status, body = await asyncio.to_thread(server.api, "GET", "/rooms/mix")
            self.assertEqual((status, body["members"]), (200, 3 + 1 + (2 if curl else 1)))

            # Pushes of 1..3 items, some sent concurrently so that shards coalesce them.
            async def publish(start, stop):
                k = start
                while k < stop:
                    n = min(1 + k % 3, stop - k)
                    status, body = await server.apush_room("mix", [{"i": i} for i in range(k, k + n)])
                    self.assertEqual(status, 200, body)
                    k += n
            await asyncio.gather(publish(0, count // 2), publish(count // 2, count))

            expected_a = list(range(0, count // 2))
            expected_b = list(range(count // 2, count))

            def check(got, who):
                # Each publisher's items in its order, all exactly once.
                self.assertEqual(sorted(got), list(range(count)), who)
                self.assertEqual([i for i in got if i < count // 2], expected_a, who)
                self.assertEqual([i for i in got if i >= count // 2], expected_b, who)

            sse_got, events = await asyncio.to_thread(sse_items, sse, count)
            check(numbered(sse_got), "sse")
            pushes = [e for e in events if e["event"] == "push"]
            self.assertTrue(all(e["id"] == str(e["data"]["seq"]) for e in pushes), pushes[:3])
            self.assertEqual(sse.last_event_id, pushes[-1]["id"])
            nd_got, _ = await asyncio.to_thread(ndjson_items, nd, count)
            check(numbered(nd_got), "ndjson")
            for ws in gopush:
                got = []
                while len(got) < count:
                    msg = await recv_json(ws)
                    got += numbered(msg["data"]["items"])
                check(got, "go-push")
            got = []
            while len(got) < count:
                got += numbered((await nano.push("onPush"))["items"])
            check(got, "nano")
            if curl:
                await asyncio.to_thread(curl.wait_for, lambda m: len(numbered(curl.items())) >= count)
                check(numbered(curl.items()), "curl")

            # A push to everyone reaches the streams too, without an id (it is not resumable).
            status, _ = await server.apush_all([{"everyone": 1}])
            self.assertEqual(status, 200)
            e = await asyncio.to_thread(sse.next_event)
            self.assertEqual((e["event"], e["id"], e["data"]["items"]), ("push", None, [{"everyone": 1}]))
            self.assertNotIn("room", e["data"])
            self.assertEqual(sse.last_event_id, pushes[-1]["id"])  # unchanged
            m = await asyncio.to_thread(nd.next_message)
            self.assertEqual(m["data"]["items"], [{"everyone": 1}])

            for c in (sse, nd):
                c.close()
            if curl:
                curl.stop()
            await server.await_stat("sseOpen", lambda v: v == 0)
            await server.await_stat("streamOpen", lambda v: v == 0)
            for ws in gopush:
                await ws.close()
            await nano.close()


class ResumeTest(unittest.TestCase):
    def test_last_event_id_replays_what_was_missed_exactly_once(self):
        with Server(threads=2) as server:
            sse = SseClient(server.ws_port, "/sse?room=r")
            joined = joined_event(sse)
            for i in range(10):
                self.assertEqual(server.push_room("r", [{"i": i}])[0], 200)
            got, _ = sse_items(sse, 10)
            self.assertEqual(numbered(got), list(range(10)))
            last = sse.last_event_id
            sse.close()
            server.wait_stat("sseOpen", lambda v: v == 0)
            for i in range(10, 25):
                self.assertEqual(server.push_room("r", [{"i": i}, {"i": i + 100}])[0], 200)
            # The browser's reconnect: the same URL, and the last id it saw.
            again = SseClient(server.ws_port, "/sse?room=r&since=0", headers={"Last-Event-ID": last})
            replayed = []
            while True:
                e = again.next_event()
                if e["event"] == "joined":
                    break
                self.assertEqual(e["event"], "push")
                replayed += e["data"]["items"]
            self.assertTrue(e["data"]["recovered"], e)
            self.assertEqual(e["data"]["epoch"], joined["data"]["epoch"])
            self.assertEqual(numbered(replayed), [k for i in range(10, 25) for k in (i, i + 100)])
            self.assertEqual(e["id"], str(e["data"]["seq"]))
            # Live from there, nothing twice.
            self.assertEqual(server.push_room("r", [{"i": 999}])[0], 200)
            got, _ = sse_items(again, 1)
            self.assertEqual(numbered(got), [999])
            stats = server.stats()
            self.assertEqual(stats["recoveries"], 1)
            self.assertEqual(stats["itemsReplayed"], 30)
            again.close()

    def test_a_drop_before_the_first_push_resumes_from_the_joined_id(self):
        # On a node that has published nothing, the joined event's id is 0: a browser that loses the
        # stream before any push still sends Last-Event-ID: 0 and gets what was published meanwhile.
        with Server(threads=1) as server:
            sse = SseClient(server.ws_port, "/sse?room=z")
            first = joined_event(sse)
            self.assertEqual((first["id"], first["data"]["seq"]), ("0", 0))
            self.assertEqual(sse.last_event_id, "0")
            sse.close()
            server.wait_stat("sseOpen", lambda v: v == 0)
            for i in range(3):
                self.assertEqual(server.push_room("z", [{"i": i}])[0], 200)
            again = SseClient(server.ws_port, "/sse?room=z", headers={"Last-Event-ID": sse.last_event_id})
            got, events = sse_items(again, 3)
            self.assertEqual(numbered(got), [0, 1, 2])
            joined = joined_event(again)
            self.assertTrue(joined["data"]["recovered"])
            again.close()

    def test_ndjson_since_and_a_position_the_ring_cannot_serve(self):
        with Server(threads=1) as server:
            seqs = [server.push_room("n", [{"i": i}])[1]["seq"] for i in range(5)]
            nd = NdjsonClient(server.ws_port, f"/stream?room=n&since={seqs[1]}")
            got, msgs = [], []
            while True:
                m = nd.next_message()
                msgs.append(m)
                if m["type"] == "JOINED":
                    break
                got += m["data"]["items"]
            self.assertEqual(numbered(got), [2, 3, 4])
            self.assertTrue(msgs[-1]["data"]["recovered"])
            self.assertEqual(msgs[-1]["data"]["seq"], seqs[-1])
            nd.close()
            # Another epoch (a restarted node's positions): nothing replayed, recovered:false.
            nd = NdjsonClient(server.ws_port, f"/stream?room=n&since={seqs[1]}&epoch=00000000deadbeef")
            m = nd.next_message()
            self.assertEqual(m["type"], "JOINED")
            self.assertFalse(m["data"]["recovered"])
            self.assertEqual(server.push_room("n", [{"i": 5}])[0], 200)
            got, _ = ndjson_items(nd, 1)
            self.assertEqual(numbered(got), [5])
            self.assertEqual(server.stats()["recoveriesFailed"], 1)
            nd.close()


class RefusalTest(unittest.TestCase):
    def request(self, server, target, method="GET", headers=None):
        with raw_connect(server.ws_port) as s:
            head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            for k, v in (headers or {}).items():
                head += f"{k}: {v}\r\n"
            s.sendall((head + "\r\n").encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"HTTP/1.1 200 ") and b"\r\n\r\n" in data:
                    break  # a stream: it does not end
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return status, hdrs, body

    def assert_refused(self, server, target, status, fragment, **kw):
        got, hdrs, body = self.request(server, target, **kw)
        self.assertEqual(got, status, (target, body))
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertIn(fragment, json.loads(body)["error"], target)

    def test_bad_subscriptions_get_a_4xx_with_a_json_error(self):
        with Server("--rooms-per-conn-max", "2", threads=1) as server:
            self.assert_refused(server, "/sse", 400, "no room")
            self.assert_refused(server, "/stream?room=", 400, "room")
            self.assert_refused(server, "/sse?room=a%zz", 400, "%-escape")
            self.assert_refused(server, "/sse?room=a&room=b&room=c", 400, "too many rooms")
            self.assert_refused(server, "/sse?room=a&since=yesterday", 400, "since")
            self.assert_refused(server, "/sse?room=a", 400, "Last-Event-ID", headers={"Last-Event-ID": "x"})
            self.assert_refused(server, "/stream?room=a&epoch=1", 400, "epoch")
            self.assert_refused(server, "/sse?room=a%01b", 400, "room")
            self.assert_refused(server, "/sse?room=a", 405, "GET", method="POST")
            status, _, body = self.request(server, "/sse?room=a", method="DELETE")
            self.assertEqual(status, 405)
            self.assertGreaterEqual(server.stats()["handshakesFailed"], 10)
            self.assertEqual(server.stats()["sseOpen"], 0)
        with Server("--sse-path", "none", threads=1) as server:
            self.assert_refused(server, "/sse?room=a", 404, "not found")
            status, _, _ = self.request(server, "/stream?room=a")  # the other stays
            self.assertEqual(status, 200)

    def test_http_1_0_is_refused(self):
        with Server(threads=1) as server:
            with raw_connect(server.ws_port) as s:
                s.sendall(b"GET /sse?room=a HTTP/1.0\r\nHost: x\r\n\r\n")
                data = s.recv(65536)
            self.assertTrue(data.startswith(b"HTTP/1.1 505"), data)
            self.assertIn(b'"error":"HTTP/1.1 only', data)

    def test_tokens_rooms_and_origins(self):
        with Server("--token-secret", SECRET, "--allowed-origins", "https://good.example", threads=1) as server:
            self.assert_refused(server, "/sse?room=lobby", 401, "connect token required")
            token = make_token({"uid": "ann", "rooms": ["lobby", "game-*"]})
            self.assert_refused(server, f"/sse?room=lobby&room=other&token={token}", 403, "does not grant")
            self.assert_refused(server, "/stream?room=lobby", 403, "origin",
                                headers={"Origin": "https://evil.example", "Authorization": "Bearer " + token})
            stats = server.stats()
            self.assertEqual(stats["joinsForbidden"], 1)
            self.assertEqual(stats["originRefused"], 1)
            self.assertEqual(stats["tokenRefused"], 1)
            # Granted: by query (EventSource cannot set headers) or Bearer; the Origin echoed for CORS.
            sse = SseClient(server.ws_port, f"/sse?room=lobby&room=game-1&token={token}",
                            headers={"Origin": "https://good.example"})
            self.assertEqual(sse.status, 200)
            self.assertEqual(sse.headers["Access-Control-Allow-Origin"], "https://good.example")
            rooms = {joined_event(sse)["data"]["room"], joined_event(sse)["data"]["room"]}
            self.assertEqual(rooms, {"lobby", "game-1"})
            nd = NdjsonClient(server.ws_port, "/stream?room=lobby", headers={"Authorization": "Bearer " + token})
            self.assertEqual(nd.status, 200)
            self.assertIsNone(nd.headers["Access-Control-Allow-Origin"])  # not a browser: no CORS
            self.assertEqual(nd.next_message()["type"], "JOINED")
            # The token's user binds the stream: a push to the user reaches it (no id: not resumable).
            status, body = server.api("POST", "/push/user", json.dumps({"uid": "ann", "items": [{"i": 1}]}),
                                      {"Content-Type": "application/json"})
            self.assertEqual(status, 200, body)
            e = sse.next_event()
            self.assertEqual((e["event"], e["id"], e["data"]["items"]), ("push", None, [{"i": 1}]))
            self.assertEqual(nd.next_message()["data"]["items"], [{"i": 1}])
            # A CORS preflight (a fetch() with Authorization) is answered 204 with what is allowed.
            status, hdrs, _ = self.request(server, "/stream", method="OPTIONS",
                                           headers={"Origin": "https://good.example",
                                                    "Access-Control-Request-Method": "GET"})
            self.assertEqual(status, 204)
            self.assertEqual(hdrs["access-control-allow-origin"], "https://good.example")
            self.assertIn("Authorization", hdrs["access-control-allow-headers"])
            sse.close()
            nd.close()


class UsersAndConnectionsTest(unittest.TestCase):
    def test_presence_events_and_a_push_to_the_streams_connection_id(self):
        # The joined event names the stream's connection id; with presence_events the room hears of
        # the stream's join under that id. A push to that id reaches it (and only it), without an id
        # of its own (not resumable). Both streams join at once, so their join events may share one
        # frame in either order: each is found by its id, not by its place.
        with Server("--presence-events", threads=2) as server:
            sse = SseClient(server.ws_port, "/sse?room=p")
            other = NdjsonClient(server.ws_port, "/stream?room=p")
            me = joined_event(sse)["data"]["conn"]
            other_joined = other.next_message()
            self.assertEqual(other_joined["type"], "JOINED")
            self.assertNotEqual(other_joined["data"]["conn"], me)
            joins = set()
            while not {me, other_joined["data"]["conn"]} <= joins:
                e = sse.next_event()
                for item in e["data"].get("items", []) if e["event"] == "push" else []:
                    if isinstance(item, dict) and item.get("presence") == "join":
                        joins.add(item["conn"])
            status, body = server.api("POST", "/push/conn", json.dumps({"conn": me, "items": [{"i": 7}]}),
                                      {"Content-Type": "application/json"})
            self.assertEqual(status, 200, body)
            self.assertEqual(server.push_room("p", [{"i": 8}])[0], 200)
            got = []
            while len(numbered(got)) < 2:
                e = sse.next_event()
                if e["event"] == "push" and numbered(e["data"]["items"]):
                    got += e["data"]["items"]
                    self.assertEqual(e["id"] is None, "room" not in e["data"], e)
            self.assertEqual(numbered(got), [7, 8])
            # The NDJSON member got the room push only.
            got, _ = ndjson_items(other, 1)
            while not numbered(got):
                got, _ = ndjson_items(other, 1)
            self.assertEqual(numbered(got), [8])
            sse.close()
            other.close()


class SlowReaderTest(unittest.TestCase):
    def test_a_slow_sse_reader_is_cut_and_counted_and_the_others_get_everything(self):
        flags = ["--out-queue-bytes-max", "1048576", "--api-body-bytes-max", "65536"]
        with Server(*flags, threads=1) as server:
            fast = SseClient(server.ws_port, "/sse?room=big")
            joined_event(fast)
            slow = socket.socket()
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.connect(("127.0.0.1", server.ws_port))
            slow.sendall(b"GET /sse?room=big HTTP/1.1\r\nHost: x\r\n\r\n")
            head = b""
            while b"event: joined" not in head:
                head += slow.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            # The slow one reads no more. 18 MB of pushes: far more than its out-queue limit and the
            # socket buffers together.
            filler = "x" * 30000
            count = 600
            got = []
            reader = threading.Thread(target=lambda: got.extend(sse_items(fast, count)[0]))
            reader.start()
            for i in range(count):
                status, body = server.push_room("big", [{"i": i, "f": filler}])
                self.assertEqual(status, 200, body)
            reader.join(120)
            self.assertFalse(reader.is_alive())
            self.assertEqual(numbered(got), list(range(count)))
            stats = server.wait_stat("closeSlowConsumer", lambda v: v >= 1)
            self.assertEqual(stats, 1)
            stats = server.stats()
            self.assertGreaterEqual(stats["framesDroppedSlow"], 1)
            self.assertEqual(stats["sseOpen"], 1)  # the fast one only
            # What the slow one still finds in its socket ends with the close event and the last chunk
            # (or the close timeout cut it first): either way the server closed it.
            slow.settimeout(30)
            rest = b""
            while True:
                chunk = slow.recv(1 << 20)
                if not chunk:
                    break
                rest += chunk
            if rest.endswith(b"0\r\n\r\n"):
                self.assertIn(b"event: close", rest)
                self.assertIn(b"slow consumer", rest)
            slow.close()
            fast.close()


class HeartbeatAndShutdownTest(unittest.TestCase):
    def test_heartbeats_then_a_close_event_and_the_last_chunk_at_shutdown(self):
        with Server("--stream-heartbeat-ms", "200", threads=1) as server:
            sse = SseClient(server.ws_port, "/sse?room=hb")
            nd = NdjsonClient(server.ws_port, "/stream?room=hb")
            joined_event(sse)
            self.assertEqual(nd.next_message()["type"], "JOINED")
            # Wait for heartbeats by reading: a push sent after two arrive marks the end.
            while sse.comments < 2:
                line = sse.resp.readline()
                if line.startswith(b":"):
                    sse.comments += 1
            self.assertEqual(server.push_room("hb", [{"i": 0}])[0], 200)
            got, _ = ndjson_items(nd, 1)
            self.assertGreaterEqual(nd.heartbeats, 1)
            self.assertEqual(numbered(got), [0])
            server.signal(signal.SIGTERM)
            e = sse.next_event()
            while e["event"] == "push":
                e = sse.next_event()
            self.assertEqual(e["event"], "close")
            self.assertEqual(e["data"]["reason"], "server shutting down")
            self.assertIsNone(sse.next_event())
            self.assertTrue(sse.ended)  # the last chunk: http.client saw a complete body
            m = nd.next_message()
            self.assertEqual(m["type"], "CLOSE")
            self.assertIsNone(nd.next_message())
            self.assertEqual(server.wait(), 0)
            sse.close()
            nd.close()


if __name__ == "__main__":
    unittest.main()
