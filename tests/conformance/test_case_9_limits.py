"""Case group 9 (Autobahn 9.x, adapted), limits and volume: with --max-message 65536 a message of
exactly 65536 bytes is accepted and one byte more fails with 1009, as one frame or as fragments, and as
soon as a frame header declares a length past the limit (the server does not wait for a payload it
will refuse). Then volume: 1000 PING commands or 1000 pings pipelined in one write are all answered,
in order."""

from wsclient import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, ConformanceCase, build_frame, main, random_sizes

LIMIT = 65536


class Limits(ConformanceCase):
    FLAGS = ("--max-message", LIMIT)

    def test_9_1_1_message_at_the_limit_accepted(self):
        ws = self.connect()
        ws.send_text(self.ping_command(LIMIT))
        self.expect_pong_command(ws)
        ws.send_chunks(build_frame(OP_TEXT, self.ping_command(LIMIT)), random_sizes(3, 1, 3000), pause=0.0005)
        self.expect_pong_command(ws)

    def test_9_1_2_fragmented_message_at_the_limit_accepted(self):
        ws = self.connect()
        payload = self.ping_command(LIMIT)
        ws.send_raw(build_frame(OP_TEXT, payload[:30000], fin=False) + build_frame(OP_CONT, payload[30000:60000], fin=False)
                    + build_frame(OP_CONT, payload[60000:]))
        self.expect_pong_command(ws)

    def test_9_1_3_binary_at_the_limit_accepted(self):
        ws = self.connect()
        ws.send_binary(b"\x00" * LIMIT)
        self.assert_alive(ws)

    def test_9_2_1_one_byte_over_fails(self):
        ws = self.connect()
        ws.send_text(self.ping_command(LIMIT + 1))
        self.expect_fail(ws, 1009)

    def test_9_2_2_binary_one_byte_over_fails(self):
        ws = self.connect()
        ws.send_binary(b"\x00" * (LIMIT + 1))
        self.expect_fail(ws, 1009)

    def test_9_2_3_fragmented_one_byte_over_fails(self):
        ws = self.connect()
        payload = self.ping_command(LIMIT + 1)
        ws.send_raw(build_frame(OP_TEXT, payload[:LIMIT // 2], fin=False) + build_frame(OP_CONT, payload[LIMIT // 2:]))
        self.expect_fail(ws, 1009)

    def test_9_2_4_fragmented_over_by_an_empty_first_and_full_second(self):
        ws = self.connect()
        payload = self.ping_command(LIMIT + 1)
        ws.send_raw(build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, payload[:LIMIT], fin=False) +
                    build_frame(OP_CONT, payload[LIMIT:]))
        self.expect_fail(ws, 1009)

    def test_9_3_1_refused_from_the_declared_length(self):
        # Only the header (and a few payload bytes) of a frame announcing LIMIT + 1 bytes: the 1009 must
        # come without the rest of the payload.
        for opcode in (OP_TEXT, OP_BINARY):
            with self.subTest(opcode=opcode):
                ws = self.connect()
                ws.send_raw(build_frame(opcode, b'{"type":"PING"', length=LIMIT + 1))
                self.expect_fail(ws, 1009)
                ws.close_socket()

    def test_9_3_2_refused_from_a_continuation_header(self):
        # The first fragment fits; the continuation's declared length takes the message past the limit.
        ws = self.connect()
        ws.send_raw(build_frame(OP_TEXT, b"x" * 60000, fin=False) + build_frame(OP_CONT, b"", length=LIMIT - 60000 + 1))
        self.expect_fail(ws, 1009)

    def test_9_3_3_refused_from_a_huge_declared_length(self):
        for length in (1 << 32, (1 << 63) - 1):
            with self.subTest(length=length):
                ws = self.connect()
                ws.send_raw(build_frame(OP_TEXT, b"", length=length))
                self.expect_fail(ws, 1009)
                ws.close_socket()

    def test_9_3_4_declared_length_header_in_1_byte_chunks(self):
        ws = self.connect()
        ws.send_chunks(build_frame(OP_TEXT, b"", length=LIMIT + 1), 1, pause=0.001)
        self.expect_fail(ws, 1009)

    def test_9_4_1_thousand_commands_in_one_write(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_TEXT, self.ping_command()) * 1000)
        for _ in range(1000):
            self.expect_pong_command(ws)
        self.assert_alive(ws)

    def test_9_4_2_thousand_pings_in_one_write(self):
        ws = self.connect()
        ws.send_raw(b"".join(build_frame(OP_PING, str(i).encode()) for i in range(1000)))
        for i in range(1000):
            self.expect_pong(ws, str(i).encode())
        self.assert_alive(ws)

    def test_9_4_3_thousand_commands_in_random_pieces(self):
        ws = self.connect()
        ws.send_chunks(build_frame(OP_TEXT, self.ping_command()) * 1000, random_sizes(9, 1, 1500), pause=0)
        for _ in range(1000):
            self.expect_pong_command(ws)


if __name__ == "__main__":
    main()
