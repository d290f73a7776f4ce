"""Case group 1 (Autobahn 1.x), framing: text and binary messages of every length form around the
7/16/64-bit boundaries, sent whole, a byte at a time and in random pieces. A text message is observed
through the go-push command it carries: a PING command (padded with a string field to the length
under test) is answered by a PONG command. Binary messages are ignored by go-push, so after one a PING
command must get its PONG and nothing else."""

from wsclient import OP_BINARY, OP_TEXT, ConformanceCase, build_frame, main, random_sizes

LENGTHS = (125, 126, 127, 128, 65535, 65536)
# The smallest PING commands: the bare command and the one every case uses.
SMALL_COMMANDS = (b'{"type":"PING"}', b'{"type":"PING","data":{}}')


class Framing(ConformanceCase):
    FLAGS = ("--max-message", 1 << 20)

    def send_pieces(self, ws, frame, how):
        """Sends a frame whole, in 1-byte pieces or in random pieces. Small frames are paced so that
        nearly every byte is its own read on the server; big ones are paced only over their header
        and first bytes (header split points) and then streamed."""
        if how == "whole":
            ws.send_raw(frame)
        elif how == "bytes":
            ws.send_chunks(frame[:24], 1, pause=0.001)
            ws.send_chunks(frame[24:], 1, pause=0.001 if len(frame) < 300 else 0)
        else:
            ws.send_chunks(frame, random_sizes(len(frame), 1, 997), pause=0.001)

    def check_text_lengths(self, how):
        ws = self.connect()
        for n in LENGTHS:
            with self.subTest(length=n, sent=how):
                payload = self.ping_command(n)
                self.assertEqual(len(payload), n)
                self.send_pieces(ws, build_frame(OP_TEXT, payload), how)
                self.expect_pong_command(ws)

    def test_1_1_1_text_empty_is_a_message_and_not_a_command(self):
        # A zero-length text frame is a complete message; as a go-push command it is malformed JSON,
        # which the server refuses with 1007 (command.h) -- proof that the frame was parsed.
        ws = self.connect()
        ws.send_text(b"")
        self.expect_close(ws, 1007)

    def test_1_1_2_smallest_commands(self):
        ws = self.connect()
        for command in SMALL_COMMANDS:
            with self.subTest(command=command):
                ws.send_text(command)
                self.expect_pong_command(ws)

    def test_1_1_3_text_lengths_whole(self):
        self.check_text_lengths("whole")

    def test_1_1_4_text_lengths_in_1_byte_chunks(self):
        self.check_text_lengths("bytes")

    def test_1_1_5_text_lengths_in_random_chunks(self):
        self.check_text_lengths("random")

    def test_1_1_6_text_lengths_pipelined_in_one_write(self):
        ws = self.connect()
        ws.send_raw(b"".join(build_frame(OP_TEXT, self.ping_command(n)) for n in LENGTHS))
        for n in LENGTHS:
            with self.subTest(length=n):
                self.expect_pong_command(ws)

    def test_1_1_7_text_lengths_pipelined_in_random_chunks(self):
        # Several frames per piece and frames across pieces: every boundary lands somewhere new.
        ws = self.connect()
        stream = b"".join(build_frame(OP_TEXT, self.ping_command(n)) for n in LENGTHS * 2)
        ws.send_chunks(stream, random_sizes(7, 1, 5000), pause=0.001)
        for _ in LENGTHS * 2:
            self.expect_pong_command(ws)

    def test_1_1_8_mask_keys(self):
        # The key bytes must not matter, including all-zero (payload sent in clear) and all-ones.
        ws = self.connect()
        for key in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04", b"\x80\x00\x00\x01"):
            for n in (34, 126, 65536):
                with self.subTest(key=key, length=n):
                    ws.send_raw(build_frame(OP_TEXT, self.ping_command(n), mask_key=key))
                    self.expect_pong_command(ws)

    def test_1_3_1_frames_in_the_same_write_as_the_upgrade_request(self):
        # The bytes behind the request head are frames, parsed as soon as the upgrade is done.
        stream = build_frame(OP_TEXT, self.ping_command()) + build_frame(OP_TEXT, self.ping_command(70000))
        ws = self.connect(early=stream)
        self.expect_pong_command(ws)
        self.expect_pong_command(ws)

    def test_1_3_2_frames_behind_an_upgrade_request_sent_in_pieces(self):
        # The request arrives in pieces (the server holds it aside) and a frame's first bytes share
        # the last piece with the end of the head.
        for name, sizes in (("3 pieces", lambda: iter([60, 60, 60])), ("random pieces", lambda: random_sizes(13, 1, 40))):
            with self.subTest(name):
                ws = self.connect(early=build_frame(OP_TEXT, self.ping_command(200)), request_sizes=sizes())
                self.expect_pong_command(ws)
                self.assert_alive(ws)
                ws.close_socket()

    def test_1_3_3_bad_frame_in_the_same_write_as_the_upgrade_request(self):
        ws = self.connect(early=build_frame(OP_TEXT, self.ping_command()) + build_frame(0x3, b""))
        self.expect_pong_command(ws)
        self.expect_fail(ws, 1002)

    def check_binary_lengths(self, how):
        ws = self.connect()
        for n in (0,) + LENGTHS:
            with self.subTest(length=n, sent=how):
                # A binary PING command is still not a command: only the text one behind it counts.
                payload = self.ping_command(n) if n else b""
                self.send_pieces(ws, build_frame(OP_BINARY, payload), how)
                self.assert_alive(ws)

    def test_1_2_1_binary_lengths_whole_ignored(self):
        self.check_binary_lengths("whole")

    def test_1_2_2_binary_lengths_in_1_byte_chunks_ignored(self):
        self.check_binary_lengths("bytes")

    def test_1_2_3_binary_lengths_in_random_chunks_ignored(self):
        self.check_binary_lengths("random")

    def test_1_2_4_binary_arbitrary_bytes_ignored(self):
        # Binary payloads are not UTF-8 checked and not parsed as commands.
        ws = self.connect()
        ws.send_binary(bytes(range(256)) * 3)
        ws.send_binary(b"\xff\xfe\xc0\x80 not json")
        self.assert_alive(ws)


if __name__ == "__main__":
    main()
