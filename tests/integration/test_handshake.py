"""The WebSocket upgrade on the client port: refusals with the right status and a JSON body, the
handshake timeout, oversized heads, and frames sent in the same write as the upgrade request."""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, PING, HttpConn, RawWs, Server,  # noqa: E402
                     client_frame, command, upgrade_request)
from harness import push_items  # noqa: E402


class HandshakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--handshake-timeout-ms", 500, threads=2).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def refused(self, request):
        """Sends `request`, returns the answer; checks the JSON error body and that the server closes."""
        with HttpConn(self.server.ws_port) as conn:
            conn.send(request)
            r = conn.read_response()
            self.assertIn("error", r.json(), r)
            self.assertEqual(r.header("content-type"), "application/json")
            self.assertEqual(conn.read_until_closed(10), b"")
            return r

    def test_good_upgrade(self):
        with HttpConn(self.server.ws_port) as conn:
            conn.send(upgrade_request())
            r = conn.read_response()
            self.assertEqual(r.status, 101, r)
            self.assertEqual(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")  # RFC 6455 1.3
            self.assertEqual(r.header("upgrade").lower(), "websocket")

    def test_wrong_path_404(self):
        self.assertEqual(self.refused(upgrade_request(path="/elsewhere")).status, 404)

    def test_missing_key_400(self):
        self.assertEqual(self.refused(upgrade_request(omit=("Sec-WebSocket-Key",))).status, 400)

    def test_bad_key_400(self):
        self.assertEqual(self.refused(upgrade_request(key="c2hvcnQ=")).status, 400)

    def test_version_8_426(self):
        r = self.refused(upgrade_request(version="8"))
        self.assertEqual(r.status, 426)
        self.assertEqual(r.header("sec-websocket-version"), "13")

    def test_post_405(self):
        r = self.refused(upgrade_request(method="POST"))
        self.assertEqual(r.status, 405)

    def test_missing_upgrade_header(self):
        r = self.refused(upgrade_request(omit=("Upgrade",)))
        self.assertIn(r.status, (400, 426))

    def test_head_too_large_431(self):
        r = self.refused(upgrade_request(extra={"X-Padding": "p" * 9000}))
        self.assertEqual(r.status, 431)

    def test_garbage_400(self):
        self.assertEqual(self.refused(b"\x00\x01\x02garbage\r\n\r\n").status, 400)

    def test_stalled_request_408(self):
        before = self.server.stats()["handshakeTimeouts"]
        with HttpConn(self.server.ws_port, timeout=20) as conn:
            conn.send(upgrade_request()[:40])  # half a request line and headers, then nothing
            r = conn.read_response()
            self.assertEqual(r.status, 408, r)
            self.assertIn("error", r.json())
            # The rest, arriving late, is not answered a second time.
            conn.send(upgrade_request()[40:])
            self.assertEqual(conn.read_until_closed(10), b"")
        self.assertGreaterEqual(self.server.stats()["handshakeTimeouts"], before + 1)

    def test_frames_in_same_write_as_upgrade(self):
        ws = RawWs(self.server.ws_port, handshake=False)
        ws.sock.sendall(upgrade_request() + client_frame(OP_TEXT, PING))
        self.assertTrue(ws.read_http_head().startswith("HTTP/1.1 101"))
        self.assertEqual(ws.recv_json(), {"type": "PONG", "data": {}})
        ws.close()

    def test_join_ping_and_control_ping_in_same_write(self):
        ws = RawWs(self.server.ws_port, handshake=False)
        ws.sock.sendall(upgrade_request() + client_frame(OP_TEXT, command("JOIN", room="hs")) +
                        client_frame(OP_PING, b"ctl") + client_frame(OP_TEXT, PING))
        self.assertTrue(ws.read_http_head().startswith("HTTP/1.1 101"))
        fin, op, payload = ws.recv_frame()
        self.assertEqual((op, payload), (OP_PONG, b"ctl"))
        self.assertEqual(ws.recv_json(), {"type": "PONG", "data": {}})
        status, _ = self.server.push_room("hs", ["joined"])
        self.assertEqual(status, 200)
        self.assertEqual(push_items(ws.recv_json()), ["joined"])
        ws.close()

    def test_request_in_pieces(self):
        ws = RawWs(self.server.ws_port, handshake=False)
        req = upgrade_request() + client_frame(OP_TEXT, PING)
        for i in range(0, len(req), 11):
            ws.sock.sendall(req[i:i + 11])
        self.assertTrue(ws.read_http_head().startswith("HTTP/1.1 101"))
        self.assertEqual(ws.recv_json(), {"type": "PONG", "data": {}})
        ws.close()

    def test_fragmented_command(self):
        ws = RawWs(self.server.ws_port)
        text = json.dumps({"type": "PING", "data": {}}).encode()
        ws.send(OP_TEXT, text[:5], fin=False)
        ws.send(OP_PING, b"between")
        ws.send(0x0, text[5:12], fin=False)
        ws.send(0x0, text[12:], fin=True)
        fin, op, payload = ws.recv_frame()
        self.assertEqual((op, payload), (OP_PONG, b"between"))
        self.assertEqual(ws.recv_json(), {"type": "PONG", "data": {}})
        ws.close()

    def test_close_handshake(self):
        ws = RawWs(self.server.ws_port)
        ws.send(OP_CLOSE, b"\x03\xe8bye")
        code, _ = ws.recv_close()
        self.assertEqual(code, 1000)
        self.assertEqual(ws.sock.recv(10), b"")  # and the server closes the TCP connection
        ws.close()

    def test_unmasked_frame_is_protocol_error(self):
        ws = RawWs(self.server.ws_port)
        ws.sock.sendall(b"\x81\x02hi")
        code, _ = ws.recv_close()
        self.assertEqual(code, 1002)
        ws.close()



class HandshakeBacklogTest(unittest.TestCase):
    """A connect storm: the server falls behind (here: stopped, with few receive buffers) while the
    clients' requests sit unread on its side. Its own backlog must not turn into 408s: every request that
    arrived in time is upgraded, and only a client that sent nothing is refused."""

    def test_requests_waiting_unread_are_not_timed_out(self):
        with Server("--handshake-timeout-ms", 300, "--recv-buffer-count", 16, "--recv-buffer-bytes", 512,
                    threads=1) as server:
            clients = [HttpConn(server.ws_port, timeout=20) for _ in range(64)]
            silent = HttpConn(server.ws_port, timeout=20)
            try:
                # Accepted: their deadlines run from here.
                server.wait_stat("connsAccepted", lambda n: n >= len(clients) + 1)
                server.signal(signal.SIGSTOP)
                try:
                    for c in clients:
                        c.send(upgrade_request())
                    # Past the deadline while stopped; once it runs on, 16 buffers take 16 requests a turn.
                    time.sleep(1.0)
                finally:
                    server.signal(signal.SIGCONT)
                for c in clients:
                    r = c.read_response()
                    self.assertEqual(r.status, 101, r)
                # A client that sent nothing is still refused when its deadline passes.
                self.assertEqual(silent.read_response().status, 408)
                stats = server.stats()
                self.assertEqual(stats["handshakeTimeouts"], 1)
                # (How many deadlines were deferred depends on how the turns after SIGCONT fall: when
                # the buffers come back fast enough every request is read before its deadline is
                # looked at, and none is. Seen in CI; the statuses above are what must hold.)
            finally:
                for c in clients + [silent]:
                    c.close()

    def test_a_storm_waits_its_turn_for_receive_buffers(self):
        # 600 requests arrive at once at a shard with 16 receive buffers: most connections find none.
        # Each must wait its turn and be read then, not retry on every turn (re-armed at once, each turn
        # would fail again for all but 16 of them: about n^2/32, 11,000 failed receives here).
        n = 600
        with Server("--recv-buffer-count", 16, "--recv-buffer-bytes", 512, threads=1) as server:
            server.signal(signal.SIGSTOP)
            clients = []
            try:
                for _ in range(n):
                    c = HttpConn(server.ws_port, timeout=20)
                    clients.append(c)
                    c.send(upgrade_request())
            finally:
                server.signal(signal.SIGCONT)
            try:
                for c in clients:
                    self.assertEqual(c.read_response().status, 101)
                exhausted = server.stats()["recvBuffersExhausted"]
                self.assertGreater(exhausted, 0)  # the storm did find the buffers gone
                # About once each (the first receive); a connection may lose its turn again to newly
                # accepted ones. Re-armed at once, ~11,000.
                self.assertLessEqual(exhausted, 3 * n)
            finally:
                for c in clients:
                    c.close()

    def test_the_deadline_runs_from_the_first_bytes(self):
        # A connect storm: clients connected, their requests not yet sent (a busy client machine). The
        # kernel holds such a connection until its first bytes (TCP_DEFER_ACCEPT, about the deadline),
        # so the deadline measures the request, not the wait for it: sent 4 s after connecting, past a
        # 3 s deadline that ran from the connect, it is upgraded. One that sends nothing still gets 408.
        with Server("--handshake-timeout-ms", 3000, threads=1) as server:
            late = HttpConn(server.ws_port, timeout=30)
            silent = HttpConn(server.ws_port, timeout=30)
            try:
                time.sleep(4.0)
                late.send(upgrade_request())
                self.assertEqual(late.read_response().status, 101)
                self.assertEqual(silent.read_response().status, 408)
                self.assertEqual(server.stats()["handshakeTimeouts"], 1)
            finally:
                late.close()
                silent.close()


if __name__ == "__main__":
    unittest.main()
