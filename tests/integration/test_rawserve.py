"""ringcast-rawserve (tools/rawserve), the connect storm's floor in bench/storm_1m.sh --server raw, with
real clients: python3-websockets completes its handshake (the client checks Sec-WebSocket-Accept) and
what it sends is dropped while the connection stays open; other HTTP requests get an empty 200 on a
kept-alive connection, a request split over several writes too; a request head that never ends is cut;
several processes share the port; the neutral epoll client connects thousands through it with none
failed. No timing assertions."""

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

import websockets

RAWSERVE_BIN = os.environ.get("RINGCAST_RAWSERVE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "ringcast-rawserve")
EPOLL_LOAD_BIN = os.environ.get("RINGCAST_EPOLL_LOAD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "epoll_load", "ringcast-epoll-load")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RawServe:
    def __init__(self, port, *args):
        self.proc = subprocess.Popen([RAWSERVE_BIN, str(port), "127.0.0.1", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            self.proc.kill()
            raise AssertionError("ringcast-rawserve did not start: " + line + self.proc.stdout.read())

    def stop(self):
        self.proc.kill()
        self.proc.wait()


async def connect(port):
    # The floor never answers a close (nor a ping): a client's close waits close_timeout for nothing.
    return await websockets.connect(f"ws://127.0.0.1:{port}/ws", close_timeout=0.1)


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients))


def http_exchange(port, chunks, expect_answers):
    """Sends the chunks (with a short pause between them) on one connection; returns what came back
    once expect_answers status lines have, or the connection closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for chunk in chunks:
            s.sendall(chunk)
            time.sleep(0.05)
        got = b""
        while got.count(b"HTTP/1.1 ") < expect_answers:
            data = s.recv(4096)
            if not data:
                break
            got += data
        return got


class RawServeTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.servers = [RawServe(self.port, "--defer-accept-s", "1")]

    def tearDown(self):
        for s in self.servers:
            s.stop()

    def test_websocket_clients_are_upgraded_and_what_they_send_is_dropped(self):
        async def scenario():
            clients = [await connect(self.port) for _ in range(20)]
            for c in clients:
                await c.send('{"type":"JOIN","room":"r"}')
                await c.send(b"\x00" * 5000)
            await asyncio.sleep(0.2)
            self.assertEqual([c.open for c in clients], [True] * 20)  # nothing they sent made it close
            await close_all(clients)
        asyncio.run(scenario())

    def test_other_requests_get_an_empty_200_on_a_kept_alive_connection(self):
        body = b'{"x":1}'
        request = (b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        got = http_exchange(self.port, [request + request], 2)
        self.assertEqual(got.count(b"HTTP/1.1 200 OK\r\n"), 2, got)
        # The same request in pieces: head split mid-line, body after a pause.
        got = http_exchange(self.port, [request[:10], request[10:40], request[40:]], 1)
        self.assertEqual(got.count(b"HTTP/1.1 200 OK\r\n"), 1, got)

    def test_a_head_that_never_ends_is_cut(self):
        got = http_exchange(self.port, [b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 10000], 1)
        self.assertEqual(got, b"")  # closed, no answer

    def test_processes_share_the_port(self):
        self.servers.append(RawServe(self.port, "--defer-accept-s", "1"))
        baseline = [len(os.listdir(f"/proc/{s.proc.pid}/fd")) for s in self.servers]

        async def scenario():
            clients = [await connect(self.port) for _ in range(40)]
            held = [len(os.listdir(f"/proc/{s.proc.pid}/fd")) - b for s, b in zip(self.servers, baseline)]
            await close_all(clients)
            return held
        held = asyncio.run(scenario())
        # The kernel spreads connections by their 4-tuple's hash: 40 all in one process is 1 in 2^39.
        self.assertEqual(sum(held), 40, held)
        self.assertTrue(all(n > 0 for n in held), held)

    def test_the_storm_client_connects_every_client(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "summary.json")
            p = subprocess.run([EPOLL_LOAD_BIN, "--url", f"ws://127.0.0.1:{self.port}/ws",
                                "--publish-url", f"http://127.0.0.1:{self.port}/push", "--format", "raw",
                                "--join", "r", "--warmup-timeout", "1", "--connections", "3000",
                                "--per-proc", "1500", "--connect-inflight", "500", "--rate", "2",
                                "--duration", "1", "--json", path],
                               capture_output=True, text=True, timeout=120)
            with open(path) as f:
                summary = json.load(f)
        self.assertEqual(summary["connect"]["connected"], 3000, p.stdout + p.stderr)
        self.assertEqual(summary["connect"]["failed"], 0)
        # Nothing is broadcast: the client says so and exits non-zero, by design.
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("never got a warm-up item", p.stdout + p.stderr)

if __name__ == "__main__":
    unittest.main()
