"""permessage-deflate (RFC 7692) with real clients: python3-websockets 10.4 offers it by default
(`permessage-deflate; client_max_window_bits`) and compresses every message it sends; a second kind of
client connects with compression=None, and a Nano/Pomelo client on /nano negotiates it too. In one room
they all receive every item of a stream of chat pushes (merged frames and single items below and above
--compression-min-bytes) exactly once and in order, with and without a merge window; the server counts
what it compressed and inflated. A compressed connection recovers what it missed with JOIN since; a
compressed command over --max-message (a deflate bomb, from a raw socket) is cut with 1009 and counted."""

import asyncio
import json
import os
import random
import socket
import struct
import sys
import unittest
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (PING, HttpConn, Server, command, form, http_request, join, ping, push_items, raw_connect,  # noqa: E402
                     recv_json, upgrade_request, ws_connect)
from nano_client import nano_connect  # noqa: E402

DEFLATE = "permessage-deflate"
ROOM = "chat"
MIN_BYTES = 128  # the server's default --compression-min-bytes
MAX_MESSAGE = 65536  # the server's default --max-message


def nano_url(server):
    return f"ws://127.0.0.1:{server.ws_port}/nano"


def chat_item(rng, i, length):
    """A chat message as a backend would push it, its JSON about `length` bytes (at least ~30)."""
    words = ["hello", "everyone", "nice", "stream", "today", "lol", "what", "a", "play", "gg", "wp", "again",
             "did", "you", "see", "that", "moment", "😀", "ключ", "🎉"]
    item = {"id": i, "uid": f"u{rng.randrange(1000)}", "text": ""}
    while len(json.dumps(item)) < length:  # as the harness sends it (ASCII, \\u escapes)
        item["text"] += rng.choice(words) + " "
    return item


def chat_pushes(seed, count):
    """`count` items cut into pushes: single small items (their PUSH frame under MIN_BYTES), single
    large ones, and batches of 2 to 12 (merged frames). Returns the list of pushes (lists of items)."""
    rng = random.Random(seed)
    pushes, i = [], 0
    while i < count:
        kind = rng.choice(["small", "large", "batch"])
        n = 1 if kind != "batch" else min(rng.randint(2, 12), count - i)
        if kind == "small":
            items = [chat_item(rng, i, rng.randint(50, 60))]
        else:
            items = [chat_item(rng, i + j, rng.randint(50, 300)) for j in range(n)]
        pushes.append(items)
        i += n
    return pushes


def publish_pipelined(server, pushes, batch=20):
    """Publishes the pushes to ROOM in order, `batch` requests per write on one keep-alive connection."""
    with HttpConn(server.api_port) as conn:
        for at in range(0, len(pushes), batch):
            chunk = pushes[at:at + batch]
            conn.send(b"".join(http_request("POST", "/push/room", form(room=ROOM, items=items),
                                            {"Content-Type": "application/x-www-form-urlencoded"})
                               for items in chunk))
            for _ in chunk:
                answer = conn.read_response()
                assert answer.status == 200, answer


def negotiated(ws):
    return [e.name for e in ws.extensions]


def count_compressed_frames(ws):
    """Counts, on ws.compressed_frames, the frames that arrive with RSV1 (websockets inflates them
    before the test sees the message)."""
    ws.compressed_frames = 0
    for ext in ws.extensions:
        decode = ext.decode

        def counting(frame, *, max_size=None, decode=decode):
            if frame.rsv1:
                ws.compressed_frames += 1
            return decode(frame, max_size=max_size)

        ext.decode = counting


async def until_marker(receive, marker):
    """Receives items (receive() returns a list per frame) until the marker item; returns those before."""
    got = []
    while True:
        for item in await receive():
            if item == marker:
                return got
            got.append(item)


async def join_past_announcements(ws, room):
    """JOIN and a PING barrier, as harness.join, except that PUSH frames may come before the PONG: the
    Nano member's onNewUser announcement, which a merge window delays until after these members
    joined. Whatever they carry comes before the start marker, so it is dropped here."""
    await ws.send(command("JOIN", room=room))
    await ws.send(PING)
    while True:
        msg = await recv_json(ws)
        if msg == {"type": "PONG", "data": {}}:
            return
        push_items(msg)


def gopush_receiver(ws):
    async def receive():
        return push_items(await recv_json(ws, 30))
    return receive


def nano_receiver(client):
    async def receive():
        return (await client.push("onPush", timeout=30))["items"]
    return receive


class DeliveryTest(unittest.IsolatedAsyncioTestCase):
    async def check_delivery(self, *flags, seed):
        with Server(*flags, threads=2) as server:
            # The Nano member joins first: its join announces it (onNewUser) to the room, before the
            # start marker below, which every member reads up to.
            nano = await nano_connect(nano_url(server))
            self.assertEqual(negotiated(nano.ws), [DEFLATE], "websockets on /nano")
            count_compressed_frames(nano.ws)
            self.assertEqual((await nano.request("room.join", {"room": ROOM, "uid": "nano"}))["code"], 0)
            deflated = [await ws_connect(server.ws_url) for _ in range(3)]
            plain = [await ws_connect(server.ws_url, compression=None) for _ in range(2)]
            for ws in deflated:
                self.assertEqual(negotiated(ws), [DEFLATE])
                ext = ws.extensions[0]
                # The server keeps no context, and asked us to keep none.
                self.assertTrue(ext.remote_no_context_takeover)
                self.assertTrue(ext.local_no_context_takeover)
                count_compressed_frames(ws)
            for ws in plain:
                self.assertEqual(negotiated(ws), [])
            for ws in deflated + plain:
                await join_past_announcements(ws, ROOM)  # JOIN and PING compressed on the deflate ones
            receivers = [gopush_receiver(ws) for ws in deflated + plain] + [nano_receiver(nano)]
            before = await server.astats()
            for key in ("deflateNegotiated", "deflateFrames", "deflateBytesIn", "deflateBytesOut",
                        "deflateSkipped", "inflateMessages"):
                self.assertIn(key, before, f"/stats has no {key!r}")
            self.assertGreaterEqual(before["deflateNegotiated"], 4)
            self.assertGreaterEqual(before["inflateMessages"], 6)  # 3 x (JOIN, PING)

            status, _ = await server.apush_room(ROOM, ["start"])
            self.assertEqual(status, 200)
            for receive in receivers:
                await until_marker(receive, "start")

            pushes = chat_pushes(seed, 300)
            items = [item for p in pushes for item in p]
            self.assertTrue(any(len(p) == 1 and len(json.dumps(p)) < MIN_BYTES - 60 for p in pushes))
            receiving = [asyncio.create_task(until_marker(receive, "end")) for receive in receivers]
            await asyncio.to_thread(publish_pipelined, server, pushes)
            status, _ = await server.apush_room(ROOM, ["end"])
            self.assertEqual(status, 200)
            results = await asyncio.gather(*receiving)
            for name, got in zip([f"deflate {i}" for i in range(3)] + [f"plain {i}" for i in range(2)] + ["nano"],
                                 results):
                with self.subTest(client=name):
                    self.assertEqual(len(got), len(items))
                    self.assertEqual([it["id"] for it in got], list(range(len(items))))
                    self.assertEqual(got, items)

            after = await server.astats()
            self.assertGreater(after["deflateFrames"], before["deflateFrames"])
            bytes_in = after["deflateBytesIn"] - before["deflateBytesIn"]
            bytes_out = after["deflateBytesOut"] - before["deflateBytesOut"]
            self.assertGreater(bytes_in, 0)
            self.assertLess(bytes_out, bytes_in)
            self.assertGreater(after["deflateSkipped"], before["deflateSkipped"])  # the small ones
            for ws in deflated + [nano.ws]:
                self.assertGreater(ws.compressed_frames, 0)
            self.assertEqual(after["sendMessageFail"], 0)

            for ws in deflated + plain:
                await ws.close()
            await nano.close()

    async def test_every_item_once_in_order(self):
        await self.check_delivery(seed=15)

    async def test_every_item_once_in_order_with_a_merge_window(self):
        await self.check_delivery("--merge-window-ms", 20, seed=16)


class RecoveryTest(unittest.IsolatedAsyncioTestCase):
    async def test_compressed_connection_recovers_what_it_missed(self):
        with Server(threads=2) as server:
            ws = await ws_connect(server.ws_url)
            self.assertEqual(negotiated(ws), [DEFLATE])
            await join(ws, ROOM)
            rng = random.Random(7)
            first = [chat_item(rng, i, 200) for i in range(5)]
            status, body = await server.apush_room(ROOM, first)
            self.assertEqual(status, 200, body)
            self.assertEqual(push_items(await recv_json(ws)), first)
            since = body["seq"]
            await ws.close()

            missed = [chat_item(rng, 5 + i, rng.randint(50, 300)) for i in range(40)]
            for at in range(0, len(missed), 4):
                status, _ = await server.apush_room(ROOM, missed[at:at + 4])
                self.assertEqual(status, 200)
                status, _ = await server.apush_room("elsewhere", ["not for us"])
                self.assertEqual(status, 200)

            ws = await ws_connect(server.ws_url)
            self.assertEqual(negotiated(ws), [DEFLATE])
            await ws.send(json.dumps({"type": "JOIN", "data": {"room": ROOM, "since": since}}))
            replayed = []
            while True:
                msg = await recv_json(ws)
                if msg["type"] == "JOINED":
                    break
                replayed.extend(push_items(msg))
            self.assertEqual(replayed, missed)
            self.assertTrue(msg["data"]["recovered"], msg)

            live = [chat_item(rng, 100, 250)]
            status, _ = await server.apush_room(ROOM, live)
            self.assertEqual(status, 200)
            self.assertEqual(push_items(await recv_json(ws)), live)  # nothing replayed twice before it
            await ws.close()


class InboundTest(unittest.IsolatedAsyncioTestCase):
    async def test_compressed_commands(self):
        with Server(threads=1) as server:
            ws = await ws_connect(server.ws_url)
            self.assertEqual(negotiated(ws), [DEFLATE])
            before = (await server.astats())["inflateMessages"]
            await join(ws, "in")  # JOIN then PING, both compressed by websockets
            # A PING padded to the limit: far smaller compressed, exactly --max-message inflated.
            base = '{"type":"PING","data":{},"pad":""}'
            await ws.send(base[:-2] + "x" * (MAX_MESSAGE - len(base)) + '"}')
            self.assertEqual(await recv_json(ws), {"type": "PONG", "data": {}})
            status, _ = await server.apush_room("in", ["joined by a compressed JOIN"])
            self.assertEqual(status, 200)
            self.assertEqual(push_items(await recv_json(ws)), ["joined by a compressed JOIN"])
            stats = await server.astats()
            self.assertGreaterEqual(stats["inflateMessages"] - before, 3)
            self.assertGreater(stats["inflateBytesOut"], stats["inflateBytesIn"])

            # One byte more inflated: the server closes with 1009.
            too_big = base[:-2] + "x" * (MAX_MESSAGE + 1 - len(base)) + '"}'
            closed_too_big = stats["closeTooBig"]
            await ws.send(too_big)
            await asyncio.wait_for(ws.wait_closed(), 15)
            self.assertEqual(ws.close_code, 1009)
            await server.await_stat("closeTooBig", lambda v: v == closed_too_big + 1)

    async def test_deflate_bomb_from_a_raw_socket(self):
        with Server(threads=1) as server:
            before = (await server.astats())["closeTooBig"]
            closes = await asyncio.to_thread(send_bomb, server.ws_port)
            self.assertEqual(closes, 1009)
            await server.await_stat("closeTooBig", lambda v: v == before + 1)
            # The server is fine: a new client works.
            ws = await ws_connect(server.ws_url)
            await ping(ws)
            await ws.close()


def send_bomb(port):
    """Upgrades with a permessage-deflate offer, sends 10 MB of zeros compressed to about 10 KB as one
    binary message, and returns the close code the server answers with."""
    sock = raw_connect(port, timeout=15)
    try:
        sock.sendall(upgrade_request(extra={"Sec-WebSocket-Extensions": DEFLATE}))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            assert chunk, "closed during the upgrade"
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"sec-websocket-extensions: permessage-deflate" in head.lower(), f"not negotiated: {head!r}"
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = compressor.compress(b"\x00" * (10 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]
        assert len(data) < 20000, len(data)
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(data))
        header = bytes([0x80 | 0x40 | 0x2, 0x80 | 126]) + struct.pack("!H", len(data))
        try:
            sock.sendall(header + key + masked)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before the whole frame is in; its close frame was sent already
        while True:  # the server's close frame: 88 len code
            while len(buf) < 2:
                chunk = sock.recv(4096)
                assert chunk, "connection ended without a close frame"
                buf += chunk
            n = buf[1] & 0x7F
            assert n < 126, buf[:4]
            while len(buf) < 2 + n:
                chunk = sock.recv(4096)
                assert chunk, "connection ended inside a frame"
                buf += chunk
            opcode, payload, buf = buf[0] & 0x0F, buf[2:2 + n], buf[2 + n:]
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]
    except socket.timeout:
        raise AssertionError("no close frame from the server") from None
    finally:
        sock.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
