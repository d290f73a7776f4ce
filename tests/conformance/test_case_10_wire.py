"""Case group 10 (Autobahn 10.x, misc), masking and length encoding: every client frame must be masked
(RFC 6455 5.1), and a length must use its minimal form with the top bit of a 64-bit length clear
(5.2); anything else fails the connection with 1002, whatever the message limit would say."""

from wsclient import OP_CLOSE, OP_PING, OP_TEXT, PING_COMMAND, ConformanceCase, build_frame, close_payload, main


class Wire(ConformanceCase):
    FLAGS = ("--max-message", 1 << 20)

    def check_fails(self, stream, expect_before=0, chunked=False):
        ws = self.connect()
        if chunked:
            ws.send_chunks(stream, 1, pause=0.0005)
        else:
            ws.send_raw(stream)
        for _ in range(expect_before):
            self.expect_pong_command(ws)
        self.expect_fail(ws, 1002)
        ws.close_socket()

    def test_10_1_unmasked_frames_fail(self):
        frames = {"text": build_frame(OP_TEXT, PING_COMMAND, masked=False),
                  "ping": build_frame(OP_PING, b"x", masked=False),
                  "close": build_frame(OP_CLOSE, close_payload(1000), masked=False),
                  "empty text": build_frame(OP_TEXT, b"", masked=False)}
        for name, frame in frames.items():
            with self.subTest(name):
                self.check_fails(frame)

    def test_10_2_unmasked_frame_after_a_valid_one_fails(self):
        self.check_fails(build_frame(OP_TEXT, PING_COMMAND) + build_frame(OP_TEXT, PING_COMMAND, masked=False),
                         expect_before=1)

    def test_10_3_unmasked_continuation_fails(self):
        self.check_fails(build_frame(OP_TEXT, PING_COMMAND[:5], fin=False) +
                         build_frame(0x0, PING_COMMAND[5:], masked=False))

    def test_10_4_unmasked_header_in_1_byte_chunks_fails(self):
        self.check_fails(build_frame(OP_TEXT, PING_COMMAND, masked=False)[:2], chunked=True)

    def test_10_5_non_minimal_lengths_fail(self):
        cases = {"16-bit form for 0": (b"", 16), "16-bit form for 125": (self.ping_command(125), 16),
                 "64-bit form for 0": (b"", 64), "64-bit form for 125": (self.ping_command(125), 64),
                 "64-bit form for 126": (self.ping_command(126), 64),
                 "64-bit form for 65535": (self.ping_command(65535), 64)}
        for name, (payload, form) in cases.items():
            for chunked in (False, True):
                with self.subTest(name, chunked=chunked):
                    frame = build_frame(OP_TEXT, payload, length_form=form)
                    # Header and a few payload bytes are enough to decide.
                    self.check_fails(frame[:20] if chunked else frame, chunked=chunked)

    def test_10_6_minimal_lengths_at_the_boundaries_accepted(self):
        ws = self.connect()
        for n in (125, 126, 65535, 65536):
            with self.subTest(length=n):
                ws.send_text(self.ping_command(n))
                self.expect_pong_command(ws)

    def test_10_7_64_bit_length_with_top_bit_set_fails(self):
        # A protocol error (1002), not "too big" (1009): such a length is not valid at all.
        for length in (1 << 63, (1 << 64) - 1, (1 << 63) | 30):
            for chunked in (False, True):
                with self.subTest(length=hex(length), chunked=chunked):
                    self.check_fails(build_frame(OP_TEXT, b"", length=length), chunked=chunked)

    def test_10_8_non_minimal_length_on_a_ping_fails(self):
        self.check_fails(build_frame(OP_PING, b"x", length_form=16))


if __name__ == "__main__":
    main()
