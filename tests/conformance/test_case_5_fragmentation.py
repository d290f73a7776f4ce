"""Case group 5 (Autobahn 5.x), fragmentation: a text message in 2..N fragments (empty ones included)
is one command; control frames may be interleaved between fragments and are answered at once; a
continuation without a message, a new message inside a fragmented one, and a fragmented control frame
fail the connection with 1002."""

import os
import random

from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, PING_COMMAND, ConformanceCase,
                      build_frame, close_payload, main, random_sizes)


def fragments(payload, cuts, opcode=OP_TEXT):
    """Frames of a message cut at the given offsets (repeated offsets give empty fragments)."""
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in zip(bounds, bounds[1:])]
    return [build_frame(opcode if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1) for i, p in enumerate(pieces)]


class Fragmentation(ConformanceCase):
    FLAGS = ("--max-message", 1 << 20)

    def test_5_1_fragmented_ping_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PING, b"frag", fin=False) + build_frame(OP_CONT, b"ment"))
        self.expect_fail(ws, 1002)

    def test_5_2_fragmented_pong_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_PONG, b"frag", fin=False) + build_frame(OP_CONT, b"ment"))
        self.expect_fail(ws, 1002)

    def test_5_2_fragmented_close_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000), fin=False) + build_frame(OP_CONT, b""))
        self.expect_fail(ws, 1002)

    def test_5_3_text_in_two_fragments_one_write(self):
        ws = self.connect()
        for cut in range(1, len(PING_COMMAND)):
            with self.subTest(cut=cut):
                ws.send_raw(b"".join(fragments(PING_COMMAND, [cut])))
                self.expect_pong_command(ws)

    def test_5_4_text_in_two_fragments_separate_writes(self):
        ws = self.connect()
        first, second = fragments(PING_COMMAND, [12])
        ws.send_raw(first)
        ws.send_raw(second)
        self.expect_pong_command(ws)

    def test_5_5_text_one_fragment_per_byte(self):
        ws = self.connect()
        frames = fragments(PING_COMMAND, range(1, len(PING_COMMAND)))
        self.assertEqual(len(frames), len(PING_COMMAND))
        ws.send_raw(b"".join(frames))
        self.expect_pong_command(ws)
        ws.send_chunks(b"".join(frames), 1, pause=0.0005)
        self.expect_pong_command(ws)

    def test_5_6_text_with_empty_fragments(self):
        n = len(PING_COMMAND)
        ws = self.connect()
        for name, cuts in {"empty first": [0], "empty last": [n], "empty middle": [10, 10],
                           "empty first, middle and last": [0, 10, 10, 10, n], "many empty": [0] * 20}.items():
            with self.subTest(name):
                ws.send_raw(b"".join(fragments(PING_COMMAND, cuts)))
                self.expect_pong_command(ws)

    def test_5_7_all_fragments_empty_is_an_empty_message(self):
        # Three empty fragments make one empty text message: malformed as a command (1007).
        ws = self.connect()
        ws.send_raw(b"".join(fragments(b"", [0, 0])))
        self.expect_close(ws, 1007)

    def test_5_8_large_text_in_fragments_and_random_pieces(self):
        ws = self.connect()
        payload = self.ping_command(300000)
        frames = fragments(payload, [1, 65535, 65536, 131072, 200000, 299999])
        ws.send_chunks(b"".join(frames), random_sizes(5, 1, 20000), pause=0.0005)
        self.expect_pong_command(ws)

    def test_5_9_continuation_without_a_message_fails(self):
        for fin in (True, False):
            with self.subTest(fin=fin):
                ws = self.connect()
                ws.send_raw(build_frame(OP_CONT, PING_COMMAND, fin=fin))
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_5_10_continuation_after_a_complete_message_fails(self):
        for fin in (True, False):
            with self.subTest(fin=fin):
                ws = self.connect()
                ws.send_raw(build_frame(OP_TEXT, PING_COMMAND) + build_frame(OP_CONT, PING_COMMAND, fin=fin))
                self.expect_pong_command(ws)
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_5_11_continuation_after_a_complete_fragmented_message_fails(self):
        ws = self.connect()
        ws.send_raw(b"".join(fragments(PING_COMMAND, [5])) + build_frame(OP_CONT, b"", fin=True))
        self.expect_pong_command(ws)
        self.expect_fail(ws, 1002)

    def test_5_12_continuation_in_1_byte_chunks_fails(self):
        ws = self.connect()
        ws.send_chunks(build_frame(OP_CONT, PING_COMMAND), 1, pause=0.0005)
        self.expect_fail(ws, 1002)

    def test_5_13_new_message_inside_a_fragmented_one_fails(self):
        for opcode, fin in ((OP_TEXT, True), (OP_TEXT, False), (OP_BINARY, True), (OP_BINARY, False)):
            with self.subTest(opcode=opcode, fin=fin):
                ws = self.connect()
                ws.send_raw(build_frame(OP_TEXT, PING_COMMAND[:10], fin=False) +
                            build_frame(opcode, PING_COMMAND, fin=fin))
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_5_14_new_message_inside_a_fragmented_binary_fails(self):
        ws = self.connect()
        ws.send_raw(build_frame(OP_BINARY, b"abc", fin=False) + build_frame(OP_TEXT, PING_COMMAND))
        self.expect_fail(ws, 1002)

    def test_5_15_ping_between_fragments(self):
        ws = self.connect()
        first, second = fragments(PING_COMMAND, [10])
        ws.send_raw(first + build_frame(OP_PING, b"between") + second)
        self.expect_pong(ws, b"between")
        self.expect_pong_command(ws)

    def test_5_16_ping_between_fragments_before_the_rest_arrives(self):
        # The pong must not wait for the message to be completed.
        ws = self.connect()
        first, second = fragments(PING_COMMAND, [10])
        ws.send_raw(first + build_frame(OP_PING, b"between"))
        self.expect_pong(ws, b"between")
        ws.send_raw(second)
        self.expect_pong_command(ws)

    def test_5_17_pings_and_pongs_between_every_fragment_in_1_byte_chunks(self):
        ws = self.connect()
        frames = fragments(PING_COMMAND, [3, 10, 10, 20])
        stream = b""
        for i, frame in enumerate(frames):
            stream += frame
            if i < len(frames) - 1:
                stream += build_frame(OP_PONG, b"unsolicited") + build_frame(OP_PING, f"p{i}".encode())
        ws.send_chunks(stream, 1, pause=0.0005)
        for i in range(len(frames) - 1):
            self.expect_pong(ws, f"p{i}".encode())
        self.expect_pong_command(ws)

    def test_5_18_ping_between_fragments_of_a_large_message(self):
        ws = self.connect()
        payload = self.ping_command(70000)
        first, second = fragments(payload, [40000])
        ws.send_chunks(first + build_frame(OP_PING, b"x" * 125) + second, random_sizes(11, 1, 4000), pause=0.0005)
        self.expect_pong(ws, b"x" * 125)
        self.expect_pong_command(ws)

    def test_5_19_fragmented_binary_ignored(self):
        ws = self.connect()
        ws.send_raw(b"".join(fragments(bytes(range(200)), [0, 50, 50, 199], opcode=OP_BINARY)))
        self.assert_alive(ws)

    def test_5_20_fragmented_binary_carrying_a_command_ignored(self):
        # The message's opcode is its first frame's: a binary message stays binary.
        ws = self.connect()
        ws.send_raw(b"".join(fragments(PING_COMMAND, [5], opcode=OP_BINARY)))
        self.assert_alive(ws)

    def test_5_22_random_interleavings_in_random_pieces(self):
        # Seeded streams of fragmented commands (lengths around the 7/16/64-bit forms), binary
        # messages, pings and pongs between any two frames, cut into random pieces: every answer
        # must come, in order.
        for seed in range(6):
            with self.subTest(seed=seed):
                rng = random.Random(seed)
                ws = self.connect()
                stream, expected = [], []
                for _ in range(40):
                    kind = rng.random()
                    if kind < 0.6:
                        n = rng.choice((34, 125, 126, 127, 300, 65535, 65536, 70000)) if rng.random() < 0.3 \
                            else rng.randint(34, 200)
                        payload = self.ping_command(n)
                        cuts = sorted(rng.randint(0, n) for _ in range(rng.randint(0, 5)))
                        frames = fragments(payload, cuts)
                        command = True
                    elif kind < 0.75:
                        frames = fragments(os.urandom(rng.randint(0, 300)), [rng.randint(0, 10)], opcode=OP_BINARY)
                        command = False
                    else:
                        ping = os.urandom(rng.randint(0, 125))
                        stream.append(build_frame(OP_PING, ping))
                        expected.append(("pong", ping))
                        frames, command = [], False
                    for i, frame in enumerate(frames):
                        stream.append(frame)
                        if command and i == len(frames) - 1:
                            expected.append(("command", None))
                        if rng.random() < 0.3:
                            ping = os.urandom(rng.randint(0, 125))
                            stream.append(build_frame(OP_PING, ping))
                            expected.append(("pong", ping))
                        if rng.random() < 0.1:
                            stream.append(build_frame(OP_PONG, os.urandom(rng.randint(0, 125))))
                ws.send_chunks(b"".join(stream), random_sizes(seed, 1, 3000), pause=0.0002)
                for what, payload in expected:
                    if what == "command":
                        self.expect_pong_command(ws)
                    else:
                        self.expect_pong(ws, payload)
                self.assert_alive(ws)
                ws.close_socket()

    def test_5_21_fragmented_control_frames_fail(self):
        for opcode in (OP_PING, OP_PONG, OP_CLOSE):
            with self.subTest(opcode=opcode):
                ws = self.connect()
                payload = close_payload(1000) if opcode == OP_CLOSE else b"x"
                ws.send_raw(build_frame(OP_TEXT, PING_COMMAND[:10], fin=False) +
                            build_frame(opcode, payload, fin=False))
                self.expect_fail(ws, 1002)
                ws.close_socket()


if __name__ == "__main__":
    main()
