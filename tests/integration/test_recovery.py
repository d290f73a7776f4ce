"""Recovery: every PUSH carries the seq of its last item (and its room); a client that JOINs with
`since` is replayed the room's items after it that the ring still holds, before any new item, then
told {"recovered":true}; when some are gone (overwritten, expired, too many, another epoch, a seq this
node never issued) it gets nothing replayed and {"recovered":false}. The load case disconnects a client
again and again while pushes stream in and checks it ends with every item exactly once, in order."""

import asyncio
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, form, http_request, join, ping, push_items, recv_json, ws_connect  # noqa: E402


async def push(server, room, items):
    status, body = await server.apush_room(room, items)
    assert status == 200, body
    return body


async def join_since(ws, room, since, epoch=None):
    data = {"room": room, "since": since}
    if epoch is not None:
        data["epoch"] = epoch
    await ws.send(json.dumps({"type": "JOIN", "data": data}))


async def until_joined(ws, timeout=15.0):
    """Reads up to the JOINED marker; returns (replayed PUSH messages, marker data)."""
    pushes = []
    while True:
        msg = await recv_json(ws, timeout)
        if msg["type"] == "JOINED":
            return pushes, msg["data"]
        push_items(msg)
        pushes.append(msg)


class RecoveryTest(unittest.IsolatedAsyncioTestCase):
    async def test_replays_what_was_missed_then_goes_live(self):
        with Server(threads=2) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, "r")
            first = await push(server, "r", ["a", "b"])
            msg = await recv_json(ws)
            self.assertEqual(push_items(msg), ["a", "b"])
            self.assertEqual(msg["data"]["seq"], first["seq"])
            self.assertEqual(msg["data"]["room"], "r")
            await ws.close()

            # Missed while away, with other rooms' and everyone's pushes in between.
            missed = []
            for i in range(5):
                missed.append(await push(server, "r", [f"m{i}"]))
                await push(server, "other", [f"x{i}"])
            status, _ = await server.apush_all(["to all"])
            self.assertEqual(status, 200)

            ws = await ws_connect(server.ws_url)
            await join_since(ws, "r", first["seq"])
            pushes, marker = await until_joined(ws)
            items = [i for p in pushes for i in push_items(p)]
            self.assertEqual(items, [f"m{i}" for i in range(5)])
            self.assertTrue(all(p["data"]["room"] == "r" for p in pushes))
            self.assertEqual(pushes[-1]["data"]["seq"], missed[-1]["seq"])
            self.assertTrue(marker["recovered"])
            self.assertEqual(marker["room"], "r")
            self.assertGreaterEqual(marker["seq"], missed[-1]["seq"])
            self.assertRegex(marker["epoch"], "^[0-9a-f]{16}$")

            # Live from here: the next push, and nothing replayed twice.
            live = await push(server, "r", ["live"])
            msg = await recv_json(ws)
            self.assertEqual(push_items(msg), ["live"])
            self.assertEqual(msg["data"]["seq"], live["seq"])

            # since null: only the position (and the epoch); nothing replayed, nothing counted.
            ws3 = await ws_connect(server.ws_url)
            await ws3.send(json.dumps({"type": "JOIN", "data": {"room": "r", "since": None}}))
            pushes, probe = await until_joined(ws3)
            self.assertEqual(pushes, [])
            self.assertTrue(probe["recovered"])
            self.assertEqual(probe["seq"], live["seq"])
            self.assertEqual(probe["epoch"], marker["epoch"])
            await ws3.close()

            # A JOIN with since when nothing was missed: recovered, nothing replayed.
            ws2 = await ws_connect(server.ws_url)
            await join_since(ws2, "r", live["seq"], marker["epoch"])
            pushes, marker2 = await until_joined(ws2)
            self.assertEqual(pushes, [])
            self.assertTrue(marker2["recovered"])
            self.assertEqual(marker2["epoch"], marker["epoch"])
            stats = await server.astats()
            self.assertGreaterEqual(stats["recoveries"], 2)
            self.assertGreaterEqual(stats["itemsReplayed"], 5)
            await ws.close()
            await ws2.close()

    async def test_unrecoverable_cases_say_so_and_replay_nothing(self):
        with Server("--history-items-max", 3, threads=2) as server:
            ws = await ws_connect(server.ws_url)
            base = await push(server, "r", ["base"])
            for i in range(4):
                last = await push(server, "r", [i])
            # Four items missed, three allowed: too many.
            await join_since(ws, "r", base["seq"])
            pushes, marker = await until_joined(ws)
            self.assertEqual(pushes, [])
            self.assertFalse(marker["recovered"])
            self.assertGreaterEqual(marker["seq"], last["seq"])
            # Another epoch (a restarted node, or another node): not recoverable.
            await join_since(ws, "s", last["seq"], "0000000000000000")
            pushes, marker = await until_joined(ws)
            self.assertEqual((pushes, marker["recovered"]), ([], False))
            # A seq this node never issued.
            await join_since(ws, "t", last["seq"] + 1000)
            pushes, marker = await until_joined(ws)
            self.assertEqual((pushes, marker["recovered"]), ([], False))
            # Still a member of the rooms, recovered or not: live items arrive.
            after = await push(server, "r", ["after"])
            msg = await recv_json(ws)
            self.assertEqual((push_items(msg), msg["data"]["seq"]), (["after"], after["seq"]))
            # Malformed since: an ERROR, the connection stays.
            await ws.send(json.dumps({"type": "JOIN", "data": {"room": "u", "since": -5}}))
            msg = await recv_json(ws)
            self.assertEqual((msg["type"], msg["data"]["code"]), ("ERROR", "bad_since"))
            await ping(ws)
            stats = await server.astats()
            self.assertGreaterEqual(stats["recoveriesFailed"], 3)
            await ws.close()

    async def test_items_overwritten_in_the_ring_or_expired_are_not_recovered(self):
        with Server("--ring-bytes", 65536, "--api-body-bytes-max", 8192, "--history-ttl-ms", 300,
                    threads=1) as server:
            ws = await ws_connect(server.ws_url)
            base = await push(server, "r", ["base"])
            mine = await push(server, "r", ["mine"])
            filler = ["f" * 1000]
            with HttpConn(server.api_port) as conn:
                for _ in range(100):  # ~100 KB through a 64 KiB ring: "mine" is overwritten
                    conn.send(http_request("POST", "/push/room", form(room="other", items=filler),
                                           {"Content-Type": "application/x-www-form-urlencoded"}))
                    self.assertEqual(conn.read_response().status, 200)
            await join_since(ws, "r", base["seq"])
            pushes, marker = await until_joined(ws)
            self.assertEqual((pushes, marker["recovered"]), ([], False))
            self.assertGreater(marker["seq"], mine["seq"])

            # Fresh items are recoverable; once older than the TTL they are not.
            base = await push(server, "r2", ["base"])
            await push(server, "r2", ["fresh"])
            await join_since(ws, "r2", base["seq"])
            pushes, marker = await until_joined(ws)
            self.assertEqual(([i for p in pushes for i in push_items(p)], marker["recovered"]), (["fresh"], True))
            base = await push(server, "r3", ["base"])
            await push(server, "r3", ["stale"])
            await asyncio.sleep(0.6)
            await join_since(ws, "r3", base["seq"])
            pushes, marker = await until_joined(ws)
            self.assertEqual((pushes, marker["recovered"]), ([], False))
            await ws.close()


async def stream_pushes(server, room, count, stop):
    """Pushes items 0..count-1 to the room, one per request on a keep-alive connection, paced (about
    one per 2 ms) so that the reader's disconnects fall in the middle of the stream."""
    def run():
        with HttpConn(server.api_port) as conn:
            for i in range(count):
                time.sleep(0.002)
                conn.send(http_request("POST", "/push/room", form(room=room, items=[i]),
                                       {"Content-Type": "application/x-www-form-urlencoded"}))
                assert conn.read_response().status == 200
                if stop.is_set():
                    return
    await asyncio.to_thread(run)


class RecoveryUnderLoadTest(unittest.IsolatedAsyncioTestCase):
    async def resume_through_disconnects(self, *args):
        count = 2000
        with Server(*args, threads=2) as server:
            received = []
            last_seq = None
            ws = await ws_connect(server.ws_url)
            await join(ws, "load")
            stop = threading.Event()
            publisher = asyncio.create_task(stream_pushes(server, "load", count, stop))
            reconnects = 0
            try:
                while len(received) < count:
                    # Read a while, then drop the connection mid-stream and resume where we were.
                    budget = 100 + 37 * (reconnects % 4)
                    while budget > 0 and len(received) < count:
                        msg = await recv_json(ws, 30)
                        items = push_items(msg)
                        received.extend(items)
                        last_seq = msg["data"]["seq"]
                        budget -= len(items)
                    if len(received) >= count:
                        break
                    await ws.close()
                    reconnects += 1
                    await asyncio.sleep(0.01 * (reconnects % 3))
                    ws = await ws_connect(server.ws_url)
                    await join_since(ws, "load", last_seq)
                    pushes, marker = await until_joined(ws)
                    self.assertTrue(marker["recovered"], marker)
                    for p in pushes:
                        received.extend(push_items(p))
                        last_seq = p["data"]["seq"]
            finally:
                stop.set()
                await publisher
            self.assertGreaterEqual(reconnects, 5)
            self.assertEqual(received, list(range(count)), "every item exactly once, in order")
            stats = await server.astats()
            self.assertEqual(stats["recoveriesFailed"], 0)
            self.assertGreaterEqual(stats["recoveries"], reconnects)
            await ws.close()

    async def test_no_loss_no_duplicates_across_disconnects(self):
        await self.resume_through_disconnects()

    async def test_no_loss_no_duplicates_with_a_merge_window(self):
        await self.resume_through_disconnects("--merge-window-ms", 20)


if __name__ == "__main__":
    unittest.main()
