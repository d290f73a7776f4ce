"""Connection churn: 200 clients connect, join and vanish without a close frame (FIN or reset, some
mid-frame, some mid-handshake) while pushes flow to their rooms; afterwards no connection or room is
left behind and the server still serves."""

import asyncio
import os
import random
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (OP_TEXT, PING, HttpConn, RawWs, Server, client_frame, command, form,  # noqa: E402
                     http_request, join, recv_json, upgrade_request, ws_connect)

ROUNDS = 8
PER_ROUND = 50


def churn_round(server, rng):
    clients = []
    for i in range(PER_ROUND):
        ws = RawWs(server.ws_port)
        ws.send_text(command("JOIN", room=f"churn{rng.randrange(5)}"))
        if i % 2:
            ws.send_text(PING)
        clients.append(ws)
    # A few that never finish the handshake.
    half = [RawWs(server.ws_port, handshake=False) for _ in range(5)]
    for h in half:
        h.sock.sendall(upgrade_request()[:30])
    for i, ws in enumerate(clients):
        if i % 5 == 0:
            ws.sock.sendall(client_frame(OP_TEXT, PING)[:4])  # half a frame, then gone
        if i % 3 == 0:
            ws.abort()   # RST
        else:
            ws.close()   # FIN, no close frame
    for h in half:
        h.abort()


def publisher(server, stop):
    with HttpConn(server.api_port) as conn:
        n = 0
        while not stop.is_set():
            conn.send(http_request("POST", "/push/room", form(room=f"churn{n % 5}", items=[n, "z" * 500]),
                                   {"Content-Type": "application/x-www-form-urlencoded"}))
            r = conn.read_response()
            assert r.status == 200, r
            n += 1


class ChurnTest(unittest.IsolatedAsyncioTestCase):
    async def test_churn_leaves_nothing_behind(self):
        with Server(threads=2) as server:
            stop = threading.Event()
            pub = asyncio.ensure_future(asyncio.to_thread(publisher, server, stop))
            rng = random.Random(7)
            try:
                for _ in range(ROUNDS):
                    await asyncio.to_thread(churn_round, server, rng)
            finally:
                stop.set()
                await pub
            await server.await_stat("onlineConnections", lambda v: v == 0, timeout=30)
            await server.await_stat("roomCount", lambda v: v == 0, timeout=30)
            stats = await server.astats()
            self.assertGreaterEqual(stats["connsAccepted"], ROUNDS * (PER_ROUND + 5))
            # Still serving.
            ws = await ws_connect(server.ws_url)
            await join(ws, "churn1")
            await server.apush_room("churn1", ["alive"])
            self.assertEqual((await recv_json(ws))["data"]["items"], ["alive"])
            await ws.close()
            await server.await_stat("onlineConnections", lambda v: v == 0)


if __name__ == "__main__":
    unittest.main()
