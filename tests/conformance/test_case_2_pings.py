"""Case group 2 (Autobahn 2.x), pings and pongs: a ping is answered by a pong with the identical
payload (any bytes, up to 125 of them); a bigger or fragmented ping fails the connection with 1002; an
unsolicited pong is ignored."""

from wsclient import OP_CONT, OP_PING, OP_PONG, OP_TEXT, PING_COMMAND, ConformanceCase, build_frame, main


class PingPong(ConformanceCase):
    def test_2_1_ping_empty(self):
        ws = self.connect()
        ws.send_ping(b"")
        self.expect_pong(ws, b"")
        self.assert_alive(ws)

    def test_2_2_ping_small_text_payload(self):
        ws = self.connect()
        ws.send_ping(b"Hello, ringcast")
        self.expect_pong(ws, b"Hello, ringcast")

    def test_2_3_ping_binary_payload(self):
        # Ping payloads are application data, not text: no UTF-8 rule applies.
        ws = self.connect()
        payload = b"\x00\xff\xfe\xc0\x80\xed\xa0\x80" + bytes(range(8))
        ws.send_ping(payload)
        self.expect_pong(ws, payload)

    def test_2_4_ping_125_byte_payload(self):
        ws = self.connect()
        payload = bytes((i * 7) & 0xFF for i in range(125))
        ws.send_ping(payload)
        self.expect_pong(ws, payload)
        self.assert_alive(ws)

    def test_2_5_ping_126_byte_payload_fails(self):
        ws = self.connect()
        ws.send_ping(b"\xfe" * 126)
        self.expect_fail(ws, 1002)

    def test_2_5_ping_declaring_126_bytes_fails_on_its_header(self):
        # The first two header bytes already say "control frame over 125 bytes": no payload needed.
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"", length=126)[:2])
        self.expect_fail(ws, 1002)

    def test_2_5_ping_with_64_bit_length_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"", length=70000))
        self.expect_fail(ws, 1002)

    def test_2_6_ping_125_bytes_in_1_byte_chunks(self):
        ws = self.connect()
        payload = bytes(range(125))
        ws.send_chunks(build_frame(OP_PING, payload), 1, pause=0.001)
        self.expect_pong(ws, payload)

    def test_2_7_unsolicited_pong_empty_ignored(self):
        ws = self.connect()
        ws.send_pong(b"")
        self.assert_alive(ws)

    def test_2_8_unsolicited_pong_with_payload_ignored(self):
        ws = self.connect()
        ws.send_pong(b"unsolicited" * 11)
        ws.send_pong(b"\xff" * 125)
        self.assert_alive(ws)

    def test_2_9_unsolicited_pong_then_ping(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PONG, b"pong-first") + build_frame(OP_PING, b"ping-second"))
        self.expect_pong(ws, b"ping-second")
        self.assert_alive(ws)

    def test_2_10_ten_pings_in_one_write(self):
        ws = self.connect()
        ws.send_raw(b"".join(build_frame(OP_PING, f"payload-{i}".encode()) for i in range(10)))
        for i in range(10):
            self.expect_pong(ws, f"payload-{i}".encode())
        self.assert_alive(ws)

    def test_2_11_ten_pings_in_separate_writes(self):
        ws = self.connect()
        for i in range(10):
            ws.send_ping(f"payload-{i}".encode())
        for i in range(10):
            self.expect_pong(ws, f"payload-{i}".encode())

    def test_2_11_ten_pings_in_1_byte_chunks(self):
        ws = self.connect()
        stream = b"".join(build_frame(OP_PING, f"payload-{i}".encode()) for i in range(10))
        ws.send_chunks(stream, 1, pause=0.0005)
        for i in range(10):
            self.expect_pong(ws, f"payload-{i}".encode())

    def test_2_12_pings_and_commands_keep_their_order(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"a") + build_frame(OP_TEXT, PING_COMMAND) + build_frame(OP_PING, b"b"))
        self.expect_pong(ws, b"a")
        self.expect_pong_command(ws)
        self.expect_pong(ws, b"b")

    def test_2_13_fragmented_ping_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"frag", fin=False) + build_frame(OP_CONT, b"ment"))
        self.expect_fail(ws, 1002)

    def test_2_13_fragmented_ping_fails_on_its_header(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"frag", fin=False)[:2])
        self.expect_fail(ws, 1002)

    def test_2_14_fragmented_pong_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PONG, b"frag", fin=False) + build_frame(OP_CONT, b"ment"))
        self.expect_fail(ws, 1002)

    def test_2_15_ping_after_a_failure_is_not_answered(self):
        # Nothing is read after the failing frame: the ping behind it gets no pong.
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"x" * 126) + build_frame(OP_PING, b"after"))
        self.expect_fail(ws, 1002)


if __name__ == "__main__":
    main()
