"""Coalescing: pushes to one room inside the merge window leave as one PUSH frame whose items are
the concatenation in publish order; --merge-batch-items-max cuts batches; without a window, what one
drain picks up together may merge but order and completeness always hold.

The pushes of each case are sent as pipelined requests in one TCP write, so they are all published
within microseconds of each other, well inside the window, however loaded the machine."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, collect_items, form, http_request, join, recv_json, ws_connect  # noqa: E402
from harness import push_items  # noqa: E402


def pipelined_pushes(server, path, pushes):
    """Sends every push in one write on one keep-alive connection; returns the decoded answers."""
    with HttpConn(server.api_port) as conn:
        conn.send(b"".join(http_request("POST", path, form(**p),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
                           for p in pushes))
        answers = [conn.read_response() for _ in pushes]
    for a in answers:
        assert a.status == 200, a
    return [a.json() for a in answers]


class MergeWindowTest(unittest.IsolatedAsyncioTestCase):
    async def test_window_merges_into_one_frame(self):
        with Server("--merge-window-ms", 300, threads=2) as server:
            clients = [await ws_connect(server.ws_url) for _ in range(4)]
            for ws in clients:
                await join(ws, "m")
            pushes = [{"room": "m", "items": [1, 2]}, {"room": "m", "items": ["three"]},
                      {"room": "m", "items": [{"four": 4}]}, {"room": "m", "items": [5, 6, 7]}]
            answers = await asyncio.to_thread(pipelined_pushes, server, "/push/room", pushes)
            seqs = [a["seq"] for a in answers]
            self.assertEqual(seqs, sorted(seqs))
            for ws in clients:
                msg = await recv_json(ws)
                self.assertEqual(push_items(msg), [1, 2, "three", {"four": 4}, 5, 6, 7])
            # A later push opens a new window and arrives on its own.
            await server.apush_room("m", ["later"])
            for ws in clients:
                self.assertEqual(push_items(await recv_json(ws)), ["later"])
            self.assertGreaterEqual((await server.astats())["framesBuilt"], 1)
            for ws in clients:
                await ws.close()

    async def test_window_applies_to_push_all(self):
        with Server("--merge-window-ms", 300, threads=2) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, "anything")
            await asyncio.to_thread(pipelined_pushes, server, "/push/all",
                                    [{"items": ["a"]}, {"items": ["b"]}, {"items": ["c"]}])
            self.assertEqual(push_items(await recv_json(ws)), ["a", "b", "c"])
            await ws.close()

    async def test_batch_items_max_cuts_batches(self):
        with Server("--merge-window-ms", 300, "--merge-batch-items-max", 3, threads=2) as server:
            ws = await ws_connect(server.ws_url)
            await join(ws, "b")
            await asyncio.to_thread(pipelined_pushes, server, "/push/room",
                                    [{"room": "b", "items": [i]} for i in range(1, 8)])
            frames = []
            while sum(len(f) for f in frames) < 7:
                msg = await recv_json(ws)
                frames.append(msg["data"]["items"])
            self.assertEqual(frames, [[1, 2, 3], [4, 5, 6], [7]])
            # A push that would overflow the batch starts the next one; it is never split.
            await asyncio.to_thread(pipelined_pushes, server, "/push/room",
                                    [{"room": "b", "items": [10, 11]}, {"room": "b", "items": [12, 13]}])
            self.assertEqual((await recv_json(ws))["data"]["items"], [10, 11])
            self.assertEqual((await recv_json(ws))["data"]["items"], [12, 13])
            await ws.close()

    async def test_no_window_keeps_order_and_completeness(self):
        with Server(threads=2) as server:
            clients = [await ws_connect(server.ws_url) for _ in range(4)]
            for ws in clients:
                await join(ws, "n")
            await asyncio.to_thread(pipelined_pushes, server, "/push/room",
                                    [{"room": "n", "items": [i, i + 0.5]} for i in range(50)])
            expected = [x for i in range(50) for x in (i, i + 0.5)]
            for ws in clients:
                items, frames = await collect_items(ws, len(expected))
                self.assertEqual(items, expected)
                self.assertLessEqual(frames, 50)
            for ws in clients:
                await ws.close()


if __name__ == "__main__":
    unittest.main()
