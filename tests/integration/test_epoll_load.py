"""ringcast-epoll-load (tools/epoll_load, the neutral benchmark client) against the real server: it
counts every item once whether the server sends it alone or merged with others into one PUSH frame
(the test computes the expected count itself: accepted pushes x connections), over several worker
processes and source addresses, with connections in several rooms, and its JSON summary says so.
A server that never subscribes the connections is reported, not waited for forever. --format raw
(the uWebSockets peer's one message per item, raw body POSTs) against a small broadcast server written
here. No timing assertions: the figures depend on the machine."""

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server  # noqa: E402

EPOLL_LOAD_BIN = os.environ.get("RINGCAST_EPOLL_LOAD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "epoll_load", "ringcast-epoll-load")


def run(server, *args, timeout=120):
    """Runs the client against server; returns (exit code, stdout + stderr, parsed JSON summary)."""
    return run_urls(["--url", server.ws_url, "--publish-url", server.api_url + "/push/room"], *args,
                    timeout=timeout)


def run_urls(urls, *args, timeout=120):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "summary.json")
        cmd = [EPOLL_LOAD_BIN, *urls, "--json", path, *[str(a) for a in args]]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if not os.path.exists(path):
            raise AssertionError("no JSON summary; exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        with open(path) as f:
            return p.returncode, p.stdout + p.stderr, json.load(f)


class RawBroadcastServer:
    """The shape of the uWebSockets peer, in a few lines of asyncio: a WebSocket at /ws subscribes the
    connection; POST /push (keep-alive, pipelined) sends the body to every subscriber as one text
    message and answers 200. Runs in a thread on a kernel-picked loopback port."""

    def __init__(self):
        self.port = None
        self.published = 0
        self._subscribers = set()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                if lines[0].startswith("GET /ws "):
                    key = headers["sec-websocket-key"].encode()
                    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                    self._subscribers.add(writer)
                    await reader.read()  # what the client sends is ignored, as the peer does
                    return
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                frame = bytes([0x81, len(body)]) if len(body) < 126 else bytes([0x81, 126]) + len(body).to_bytes(2, "big")
                for w in list(self._subscribers):
                    w.write(frame + body)
                self.published += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._subscribers.discard(writer)
            writer.close()


class EpollLoadTest(unittest.TestCase):
    def check_clean(self, code, out, s, connections, rooms):
        self.assertEqual(code, 0, out)
        self.assertTrue(s["clean"], out)
        self.assertEqual(s["connect"]["connected"], connections)
        self.assertEqual(s["publish"]["requests_failed"], 0)
        requests = s["publish"]["requests_ok"]
        self.assertGreater(requests, 0)
        self.assertEqual(requests % rooms, 0)
        # Every accepted push reaches every connection once: the count is the test's, not the tool's.
        self.assertEqual(s["delivery"]["expected"], requests * connections)
        self.assertEqual(s["delivery"]["received"], requests * connections)
        self.assertEqual(s["delivery"]["missing"], 0)
        self.assertEqual(s["delivery"]["foreign"], 0)
        self.assertEqual(s["delivery"]["connections_complete"], connections)
        self.assertEqual(s["delivery"]["per_connection_min"], requests)
        self.assertEqual(s["delivery"]["per_connection_max"], requests)
        # Reads are counted from a worker's first delivery on: every connection but the one whose read
        # brought that delivery reads its items later, each read at least one byte.
        reads = s["delivery"]["reads"]
        self.assertGreaterEqual(reads, connections - s["processes"]["workers"])
        self.assertLessEqual(reads, s["delivery"]["bytes"])
        self.assertGreater(s["latency_ms"]["p50"], 0)
        self.assertGreater(s["cpu"]["window_s"], 0)
        return requests

    def test_one_frame_per_item(self):
        # --merge-batch-items-max 1: every item its own frame, so items and messages agree.
        with Server("--merge-batch-items-max", 1, threads=1) as server:
            code, out, s = run(server, "--connections", 200, "--join", "r", "--rate", 40, "--duration", 1)
            requests = self.check_clean(code, out, s, 200, 1)
            # 40 planned; a publisher starved of its core at the end of the second may issue fewer.
            self.assertGreaterEqual(requests, 36)
            self.assertLessEqual(requests, 40)
            self.assertEqual(s["delivery"]["items_per_message"], 1)
            self.assertEqual(server.stats()["itemsAccepted"], requests + s["publish"]["warmup_requests"])

    def test_polling_without_sleeping(self):
        # --wait-ms 0: the workers never sleep in epoll_wait; every item still arrives, once.
        with Server("--merge-batch-items-max", 1, threads=1) as server:
            code, out, s = run(server, "--connections", 100, "--join", "r", "--rate", 20, "--duration", 1,
                               "--wait-ms", 0)
            self.check_clean(code, out, s, 100, 1)
            self.assertEqual(s["wait_ms"], 0)

    def test_merged_frames_count_each_item(self):
        # A 30 ms merge window at 300 items/s puts several items into each PUSH frame.
        with Server("--merge-window-ms", 30, threads=1) as server:
            code, out, s = run(server, "--connections", 200, "--join", "r", "--rate", 300, "--duration", 1,
                               "--payload", 100)
            requests = self.check_clean(code, out, s, 200, 1)
            self.assertGreaterEqual(requests, 270)
            self.assertLessEqual(requests, 300)
            self.assertGreater(s["delivery"]["items_per_message"], 2, out)

    def test_processes_sources_and_five_rooms(self):
        # 300 connections in 3 worker processes over 2 source addresses, each in 5 rooms; every item
        # goes to all 5 rooms, so each connection receives it 5 times.
        rooms = "a,b,c,d,e"
        with Server(threads=2) as server:
            code, out, s = run(server, "--connections", 300, "--per-proc", 100, "--per-source", 200,
                               "--join", rooms, "--rate", 50, "--duration", 1, "--publish-conns", 2)
            requests = self.check_clean(code, out, s, 300, 5)
            self.assertGreaterEqual(requests, 225)
            self.assertLessEqual(requests, 250)
            self.assertEqual(s["processes"], {"workers": 3, "source_addresses": 2})
            self.assertEqual(s["publish_rooms"], rooms.split(","))

    def test_raw_messages_one_item_each(self):
        with RawBroadcastServer() as peer:
            code, out, s = run_urls(["--url", "ws://127.0.0.1:%d/ws" % peer.port, "--format", "raw",
                                     "--publish-url", "http://127.0.0.1:%d/push" % peer.port],
                                    "--connections", 50, "--rate", 20, "--duration", 1, "--payload", 200)
            requests = self.check_clean(code, out, s, 50, 1)
            self.assertGreaterEqual(requests, 18)
            self.assertLessEqual(requests, 20)
            self.assertEqual(s["delivery"]["items_per_message"], 1)
            self.assertEqual(peer.published, requests + s["publish"]["warmup_requests"])

    def test_unsubscribed_connections_are_reported(self):
        # Nobody JOINs room r: the warm-up items never arrive, and the run says why it stopped.
        with Server(threads=1) as server:
            code, out, s = run(server, "--connections", 20, "--publish-rooms", "r", "--rate", 10, "--duration", 1,
                               "--warmup-timeout", 2)
            self.assertNotEqual(code, 0)
            self.assertFalse(s["clean"])
            self.assertIn("warm-up", s["problem"])


if __name__ == "__main__":
    unittest.main()
