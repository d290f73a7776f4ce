"""Case group 7 (Autobahn 7.x), closing: a client's close is answered by a close echoing its code, after
which the server ends the TCP connection and reads nothing more; a close without payload is answered
too; a 1-byte payload or a code that may not appear on the wire fails with 1002, a reason that is not
UTF-8 with 1007. When the server fails a connection, it ends TCP itself (RFC 6455 7.1.7) instead of
waiting out its close timeout."""

from wsclient import (OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, PING_COMMAND, STRICT_CLOSE_TIMEOUT_MS, ConformanceCase,
                      build_frame, close_payload, main)

VALID_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)
INVALID_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)


class Close(ConformanceCase):
    def expect_echo(self, ws, payload):
        """The server answers our close with this close payload, then closes the TCP connection
        (orderly: recv returns b'')."""
        frame = self.expect_frame(ws, OP_CLOSE)
        self.assertIn(frame.payload, payload if isinstance(payload, tuple) else (payload,))
        ws.recv_eof(allow_reset=False)

    def test_7_1_1_close_1000_echoed_then_tcp_closed(self):
        ws = self.connect()
        ws.send_close(1000)
        self.expect_echo(ws, close_payload(1000))

    def test_7_1_2_close_without_payload_answered(self):
        # No status code in ours: the answer may be empty or 1000 (RFC 6455 5.5.1, 7.4.1).
        ws = self.connect()
        ws.send_close()
        self.expect_echo(ws, (b"", close_payload(1000)))

    def test_7_1_3_close_after_traffic(self):
        ws = self.connect()
        self.assert_alive(ws)
        ws.send_ping(b"p")
        self.expect_pong(ws, b"p")
        ws.send_close(1000, "bye")
        self.expect_echo(ws, close_payload(1000))

    def test_7_1_4_close_in_1_byte_chunks(self):
        ws = self.connect()
        ws.send_chunks(build_frame(OP_CLOSE, close_payload(1000, "split close")), 1, pause=0.001)
        self.expect_echo(ws, close_payload(1000))

    def test_7_1_5_data_after_close_ignored(self):
        # Commands, pings and even bad frames behind the close are not read.
        ws = self.connect()
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, PING_COMMAND) +
                    build_frame(OP_PING, b"late") + build_frame(0x3, b"reserved"))
        self.expect_echo(ws, close_payload(1000))

    def test_7_1_6_data_after_close_in_a_later_write_ignored(self):
        ws = self.connect()
        ws.send_close(1000)
        self.expect_frame(ws, OP_CLOSE, close_payload(1000))
        ws.send_raw(build_frame(OP_TEXT, PING_COMMAND) + build_frame(OP_PING, b"late"))
        ws.recv_eof()  # our late bytes may meet a closed socket: a reset after the FIN is allowed

    def test_7_1_7_command_then_close_in_one_write(self):
        # Answers owed before the close still go out, in order, ahead of the close.
        ws = self.connect()
        ws.send_raw(build_frame(OP_TEXT, PING_COMMAND) + build_frame(OP_PING, b"before") +
                    build_frame(OP_CLOSE, close_payload(1000)))
        self.expect_pong_command(ws)
        self.expect_pong(ws, b"before")
        self.expect_echo(ws, close_payload(1000))

    def test_7_1_8_close_between_fragments(self):
        # A close may come between the fragments of a message: the rest of the message is not read.
        ws = self.connect()
        ws.send_raw(build_frame(OP_TEXT, PING_COMMAND[:10], fin=False) + build_frame(OP_CLOSE, close_payload(1000)) +
                    build_frame(OP_CONT, PING_COMMAND[10:]))
        self.expect_echo(ws, close_payload(1000))

    def test_7_3_1_close_with_1_byte_payload_fails(self):
        ws = self.connect()
        ws.send_frame(OP_CLOSE, b"\x03")
        self.expect_fail(ws, 1002)

    def test_7_3_2_close_with_reason(self):
        ws = self.connect()
        ws.send_close(1000, "a reason: ключ😀")
        self.expect_echo(ws, close_payload(1000))

    def test_7_3_3_close_with_123_byte_reason(self):
        ws = self.connect()
        ws.send_close(1000, "r" * 123)
        self.expect_echo(ws, close_payload(1000))

    def test_7_3_4_close_with_124_byte_reason_fails(self):
        # 2 + 124 = 126 bytes: over the control frame limit.
        ws = self.connect()
        ws.send_close(1000, "r" * 124)
        self.expect_fail(ws, 1002)

    def test_7_5_1_close_reason_not_utf8_fails(self):
        for reason in (b"\xff", b"ok \xed\xa0\x80", b"\xc0\xaf", b"cut \xf0\x9f\x98"):
            with self.subTest(reason=reason):
                ws = self.connect()
                ws.send_close(1000, reason)
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_7_7_valid_codes_echoed(self):
        for code in VALID_CODES:
            with self.subTest(code=code):
                ws = self.connect()
                ws.send_close(code)
                self.expect_echo(ws, close_payload(code))
                ws.close_socket()

    def test_7_9_invalid_codes_fail(self):
        for code in INVALID_CODES:
            with self.subTest(code=code):
                ws = self.connect()
                ws.send_close(code)
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_7_13_1_server_close_code_and_reason_are_well_formed(self):
        # The server's own close (here for a malformed command) carries a valid code and UTF-8 reason;
        # after our answer the connection ends.
        ws = self.connect()
        ws.send_text(b"not json")
        reason = self.expect_close(ws, 1007)
        self.assertLessEqual(len(reason.encode()), 123)

    def test_7_13_2_after_the_server_close_nothing_is_answered(self):
        # The server closed (1007, malformed command) and waits for our close: pings and commands
        # that cross its close get no answer, and our close ends the connection.
        ws = self.connect()
        ws.send_text(b"[not a command")
        self.assertEqual(self.expect_frame(ws, OP_CLOSE).close_code, 1007)
        ws.send_raw(build_frame(OP_PING, b"late") + build_frame(OP_TEXT, PING_COMMAND))
        ws.send_close(1000)
        ws.recv_eof()


class FailClosesTcp(ConformanceCase):
    """With a long close timeout: after failing a connection the server must end TCP itself, promptly
    (RFC 6455 7.1.7: it must not read the peer's close, and closes the connection), whether or not
    the client answers the close. A server that waits for its close timeout fails these cases on
    WAIT_S."""

    CLOSE_TIMEOUT_MS = STRICT_CLOSE_TIMEOUT_MS
    FLAGS = ("--max-message", 65536)

    FAILURES = {
        "reserved opcode (1002)": (build_frame(0x3, b""), 1002),
        "unmasked frame (1002)": (build_frame(OP_TEXT, PING_COMMAND, masked=False), 1002),
        "invalid close code (1002)": (build_frame(OP_CLOSE, close_payload(1005)), 1002),
        "invalid UTF-8 text (1007)": (build_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
        "message too big (1009)": (build_frame(OP_TEXT, b"", length=65537), 1009),
    }

    def check(self, reply):
        for name, (frame, code) in self.FAILURES.items():
            with self.subTest(name, client_answers_close=reply):
                ws = self.connect()
                ws.send_raw(frame)
                self.expect_close(ws, code, reply=reply)
                ws.close_socket()

    def test_7_14_1_fail_then_tcp_closed_when_client_answers_close(self):
        self.check(reply=True)

    def test_7_14_2_fail_then_tcp_closed_without_client_close(self):
        self.check(reply=False)

    def test_7_14_3_client_close_then_tcp_closed(self):
        ws = self.connect()
        ws.send_close(1000)
        self.expect_frame(ws, OP_CLOSE, close_payload(1000))
        ws.recv_eof(allow_reset=False)

    def test_7_14_4_server_initiated_close_completes_on_client_close(self):
        # A close the server starts (a malformed command: 1007) ends as soon as the client answers.
        ws = self.connect()
        ws.send_text(b"{")
        self.expect_close(ws, 1007, reply=True)


if __name__ == "__main__":
    main()
