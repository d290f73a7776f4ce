"""Out of file descriptors: the server runs under a small open-files limit (set with prlimit, from
util-linux) and the test opens push API connections until accepting fails with EMFILE. (Lowering the
limit of a running server would not do: io_uring reads the limit when an accept is armed, and the
multishot accept stays armed.) The clients already connected keep being served, the back-off is
logged once rather than once per attempt, the connections waiting in the listen backlog are not
lost, and once descriptors are free again accepts resume and the waiting requests are answered."""

import asyncio
import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, command, http_request, ping, recv_json, ws_connect  # noqa: E402

BACKOFF_LINE = "accept failed: Too many open files"
OPEN_FILES = 64  # the process's whole budget: 28 client slots fit (see fit_descriptor_budget)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def answered(conn, timeout):
    """The response to the request sent on `conn`, or None when none came within `timeout`."""
    conn.sock.settimeout(timeout)
    try:
        return conn.read_response()
    except OSError:
        return None
    finally:
        conn.sock.settimeout(10.0)


@unittest.skipUnless(shutil.which("prlimit"), "prlimit (util-linux) not installed")
class FdExhaustionTest(unittest.IsolatedAsyncioTestCase):
    async def test_accept_backs_off_logs_once_and_resumes(self):
        server = Server(threads=1)
        server.args[0:0] = ["prlimit", f"--nofile={OPEN_FILES}:{OPEN_FILES}"]  # prlimit execs ringcast
        with server:
            pid = server.proc.pid
            a = await ws_connect(server.ws_url)
            await a.send(command("JOIN", room="r"))
            await ping(a)
            # Push API connections (their own budget, 256 per shard) until the descriptors run out.
            conns, waiting = [], []
            for _ in range(OPEN_FILES + 8):
                conn = HttpConn(server.api_port)
                conn.send(http_request("GET", "/health"))
                r = await asyncio.to_thread(answered, conn, 1.0 if not waiting else 0.2)
                if r is None:
                    waiting.append(conn)  # connected (the kernel's backlog) but not accepted
                else:
                    self.assertEqual(r.status, 200, r)
                    conns.append(conn)
                    self.assertLessEqual(open_fds(pid), OPEN_FILES)
            self.assertGreater(len(conns), 20)
            self.assertGreaterEqual(len(waiting), 4)
            self.assertEqual(open_fds(pid), OPEN_FILES)
            # The shard keeps trying every 100 ms; the connected client is served throughout.
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                await ping(a)
                await asyncio.sleep(0.1)
            self.assertEqual(server.log().count(BACKOFF_LINE), 1, server.log())

            # Connections leave: the waiting ones are accepted and answered, in the order they came.
            for conn in conns[:len(waiting) + 6]:
                conn.close()
            for conn in waiting:
                r = await asyncio.to_thread(answered, conn, 10.0)
                self.assertIsNotNone(r, "a request waiting in the backlog was never answered")
                self.assertEqual(r.status, 200, r)
            # A new client gets in and receives pushes with the one that was there all along.
            b = await ws_connect(server.ws_url)
            await b.send(command("JOIN", room="r"))
            await ping(b)
            status, body = await server.apush_room("r", ["after"])
            self.assertEqual(status, 200, body)
            for ws in (a, b):
                self.assertEqual((await recv_json(ws))["data"]["items"], ["after"])
            for conn in conns + waiting:
                conn.close()
            await a.close()
            await b.close()
            self.assertEqual(server.log().count(BACKOFF_LINE), 1, server.log())


if __name__ == "__main__":
    unittest.main()
