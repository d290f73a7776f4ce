"""SIGTERM: every connected client gets close 1001, an API request sent just before is answered,
and the process exits 0 (also when a client never answers the close)."""

import asyncio
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, RawWs, Server, form, http_request, join, ws_connect  # noqa: E402


class ShutdownTest(unittest.IsolatedAsyncioTestCase):
    async def shutdown_case(self, sig):
        with Server("--shutdown-drain-ms", 3000, "--close-timeout-ms", 500, threads=2) as server:
            clients = [await ws_connect(server.ws_url) for _ in range(8)]
            for i, ws in enumerate(clients):
                await join(ws, f"room{i % 3}")
            mute = RawWs(server.ws_port)  # never reads, never answers the close
            idle_api = HttpConn(server.api_port)  # an idle keep-alive API connection
            idle_api.send(http_request("GET", "/health"))
            self.assertEqual(idle_api.read_response().status, 200)
            await server.await_stat("onlineConnections", lambda v: v == 9)

            api = HttpConn(server.api_port)
            api.send(http_request("POST", "/push/room", form(room="room0", items=[1]),
                                  {"Content-Type": "application/x-www-form-urlencoded"}))
            server.signal(sig)
            answer = await asyncio.to_thread(api.read_response)
            # Answered (accepted, or refused because the stop came first), never dropped.
            self.assertIn(answer.status, (200, 503), answer)
            self.assertIn("ok" if answer.status == 200 else "error", answer.json())

            for ws in clients:
                await asyncio.wait_for(ws.wait_closed(), 20)
                self.assertEqual(ws.close_code, 1001, ws.close_reason)
            rc = await asyncio.to_thread(server.wait, 30)
            self.assertEqual(rc, 0)
            self.assertIn("stopped", server.log())
            # The idle API connection was closed, not left hanging.
            await asyncio.to_thread(idle_api.read_until_closed, 10)
            mute.close()
            api.close()
            idle_api.close()

    async def test_sigterm(self):
        await self.shutdown_case(signal.SIGTERM)

    async def test_sigint(self):
        await self.shutdown_case(signal.SIGINT)

    async def test_requests_racing_the_stop_are_answered(self):
        # Requests on fresh connections (some still in the accept queue when the stop comes) and on
        # idle keep-alive connections, all sent just before the signal: every one gets an answer.
        for _ in range(5):
            with Server(threads=2) as server:
                warm = [HttpConn(server.api_port) for _ in range(4)]
                for conn in warm:
                    conn.send(http_request("GET", "/health"))
                    self.assertEqual(conn.read_response().status, 200)
                fresh = [HttpConn(server.api_port) for _ in range(4)]
                for i, conn in enumerate(warm + fresh):
                    conn.send(http_request("POST", "/push/room", form(room="r", items=[i]),
                                           {"Content-Type": "application/x-www-form-urlencoded"}))
                server.signal(signal.SIGTERM)
                for conn in warm + fresh:
                    answer = await asyncio.to_thread(conn.read_response)
                    self.assertIn(answer.status, (200, 503), answer)
                    conn.close()
                self.assertEqual(await asyncio.to_thread(server.wait, 30), 0)

    async def test_idle_server_exits_zero(self):
        with Server(threads=2) as server:
            server.signal(signal.SIGTERM)
            self.assertEqual(await asyncio.to_thread(server.wait, 30), 0)


if __name__ == "__main__":
    unittest.main()
