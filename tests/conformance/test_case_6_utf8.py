"""Case group 6 (Autobahn 6.x), UTF-8: a text message must be valid UTF-8 as a whole (RFC 3629: no
overlong forms, no surrogates, nothing above U+10FFFF, no truncated or stray bytes), else the
connection fails with 1007. Valid text passes however it is cut into fragments, even inside a
character; invalid text fails however it is cut, and it fails fast (Autobahn 6.4): as soon as the bytes
received cannot begin valid UTF-8, before the rest of the message is sent. Observed through commands: a
PING command carrying the text in a string field gets a PONG; a JOIN of a room with a multi-byte name
receives that room's push."""

from wsclient import OP_CONT, OP_PING, OP_PONG, OP_TEXT, ConformanceCase, build_frame, main


def command_with(text):
    return b'{"type":"PING","data":{"s":"' + text + b'"}}'


def split_frames(payload, cuts):
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in zip(bounds, bounds[1:])]
    return b"".join(build_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1)
                    for i, p in enumerate(pieces))


VALID = {
    "ascii": b"hello",
    "cyrillic": "ключ".encode(),
    "greek kosme": "κόσμε".encode(),
    "emoji": "😀".encode(),
    "mixed": "ключ😀κόσμε€".encode(),
    "U+0080": b"\xc2\x80",
    "U+07FF": b"\xdf\xbf",
    "U+0800": b"\xe0\xa0\x80",
    "U+D7FF (last before surrogates)": b"\xed\x9f\xbf",
    "U+E000 (first after surrogates)": b"\xee\x80\x80",
    "U+FEFF (BOM)": b"\xef\xbb\xbf",
    "U+FFFD": b"\xef\xbf\xbd",
    "U+FFFE (noncharacter, valid)": b"\xef\xbf\xbe",
    "U+FFFF (noncharacter, valid)": b"\xef\xbf\xbf",
    "U+10000": b"\xf0\x90\x80\x80",
    "U+10FFFF (last code point)": b"\xf4\x8f\xbf\xbf",
}

INVALID = {
    "overlong '/' 2 bytes": b"\xc0\xaf",
    "overlong '/' 3 bytes": b"\xe0\x80\xaf",
    "overlong '/' 4 bytes": b"\xf0\x80\x80\xaf",
    "overlong NUL": b"\xc0\x80",
    "overlong U+007F": b"\xc1\xbf",
    "overlong U+07FF in 3 bytes": b"\xe0\x9f\xbf",
    "overlong U+FFFF in 4 bytes": b"\xf0\x8f\xbf\xbf",
    "surrogate U+D800": b"\xed\xa0\x80",
    "surrogate U+DFFF": b"\xed\xbf\xbf",
    "surrogate pair U+D83D U+DE00": b"\xed\xa0\xbd\xed\xb8\x80",
    "U+110000": b"\xf4\x90\x80\x80",
    "F5 lead byte": b"\xf5\x80\x80\x80",
    "F7 BF BF BF": b"\xf7\xbf\xbf\xbf",
    "5-byte form": b"\xf8\x88\x80\x80\x80",
    "6-byte form": b"\xfc\x84\x80\x80\x80\x80",
    "FE": b"\xfe",
    "FF": b"\xff",
    "stray continuation 80": b"\x80",
    "stray continuation BF": b"\xbf",
    "truncated 2-byte": b"\xce",
    "truncated 3-byte": b"\xe2\x82",
    "truncated 4-byte": b"\xf0\x9f\x98",
    "lead byte then ASCII": b"\xe2a\x82",
}

# The sequences split at every byte boundary (and just around them): one of each kind.
SPLIT_INVALID = ("overlong '/' 3 bytes", "overlong '/' 4 bytes", "surrogate U+D800", "surrogate pair U+D83D U+DE00",
                 "U+110000", "5-byte form", "truncated 4-byte", "stray continuation 80")

# Invalid sequences for the fail-fast cases: each is followed by more of the command in the same
# fragment, so the truncated ones become invalid at the byte after them.
FAIL_FAST = ("overlong '/' 2 bytes", "overlong U+FFFF in 4 bytes", "surrogate U+D800",
             "surrogate pair U+D83D U+DE00", "U+110000", "FF", "stray continuation 80", "truncated 3-byte")


class Utf8(ConformanceCase):
    FLAGS = ("--rooms-per-conn-max", 64)

    # ---- valid ----

    def test_6_1_valid_in_single_frames(self):
        ws = self.connect()
        for name, text in VALID.items():
            with self.subTest(name):
                ws.send_text(command_with(text))
                self.expect_pong_command(ws)

    def test_6_2_valid_split_into_two_fragments_at_every_byte(self):
        ws = self.connect()
        for name, text in VALID.items():
            payload = command_with(text)
            start = payload.index(text)
            for cut in range(start, start + len(text) + 1):
                with self.subTest(name, cut=cut):
                    ws.send_raw(split_frames(payload, [cut]))
                    self.expect_pong_command(ws)

    def test_6_3_valid_one_fragment_per_byte(self):
        ws = self.connect()
        payload = command_with(VALID["mixed"])
        ws.send_raw(split_frames(payload, range(1, len(payload))))
        self.expect_pong_command(ws)

    def test_6_4_valid_in_1_byte_chunks(self):
        ws = self.connect()
        for name in ("mixed", "U+10FFFF (last code point)"):
            with self.subTest(name):
                ws.send_chunks(build_frame(OP_TEXT, command_with(VALID[name])), 1, pause=0.0005)
                self.expect_pong_command(ws)

    def test_6_5_join_a_multibyte_room_and_receive_its_push(self):
        room = "ключ😀"
        name = room.encode()
        clients = []
        # One client JOINs in one frame, the others with the JOIN cut into two fragments at every byte
        # of the room name, inside its characters included.
        for cut in [None, *range(1, len(name))]:
            ws = self.connect()
            command = ('{"type":"JOIN","data":{"room":"' + room + '"}}').encode()
            if cut is None:
                ws.send_text(command)
            else:
                ws.send_raw(split_frames(command, [command.index(name) + cut]))
            self.assert_alive(ws)  # the JOIN ahead of it has been handled
            clients.append((cut, ws))
        items = ["привет", {"emoji": "😀", "n": 1}]
        status, body = self.server.push_room(room, items)
        self.assertEqual(status, 200, body)
        for cut, ws in clients:
            with self.subTest(cut=cut):
                self.expect_push(ws, items)

    def test_6_6_binary_is_not_validated(self):
        ws = self.connect()
        for text in INVALID.values():
            ws.send_binary(text)
        self.assert_alive(ws)

    # ---- invalid ----

    def test_6_7_invalid_in_single_frames(self):
        for name, text in INVALID.items():
            with self.subTest(name):
                ws = self.connect()
                ws.send_text(command_with(text))
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_8_invalid_alone(self):
        # Not even JSON: the text itself is what is refused.
        for name in ("overlong NUL", "surrogate U+D800", "FF", "truncated 4-byte"):
            with self.subTest(name):
                ws = self.connect()
                ws.send_text(INVALID[name])
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_9_invalid_split_into_two_fragments_at_every_byte(self):
        for name in SPLIT_INVALID:
            payload = command_with(INVALID[name])
            start = payload.index(INVALID[name])
            for cut in range(start, start + len(INVALID[name]) + 1):
                with self.subTest(name, cut=cut):
                    ws = self.connect()
                    ws.send_raw(split_frames(payload, [cut]))
                    self.expect_fail(ws, 1007)
                    ws.close_socket()

    def test_6_10_invalid_one_fragment_per_byte(self):
        for name in ("surrogate pair U+D83D U+DE00", "U+110000"):
            with self.subTest(name):
                ws = self.connect()
                payload = command_with(INVALID[name])
                ws.send_raw(split_frames(payload, range(1, len(payload))))
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_11_invalid_in_1_byte_chunks(self):
        for name in ("overlong '/' 4 bytes", "surrogate U+DFFF", "truncated 3-byte"):
            with self.subTest(name):
                ws = self.connect()
                ws.send_chunks(build_frame(OP_TEXT, command_with(INVALID[name])), 1, pause=0.0005)
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_12_invalid_after_valid_messages(self):
        ws = self.connect()
        ws.send_text(command_with(VALID["mixed"]))
        self.expect_pong_command(ws)
        ws.send_text(command_with(INVALID["surrogate U+D800"]))
        self.expect_fail(ws, 1007)

    def test_6_13_invalid_room_name_in_join(self):
        ws = self.connect()
        ws.send_text(b'{"type":"JOIN","data":{"room":"k\xed\xa0\x80"}}')
        self.expect_fail(ws, 1007)

    # ---- fail fast (Autobahn 6.4) ----
    # Each case sends a message only up to (and a little past) its first invalid byte and never the
    # rest, then waits for the close: a server that checks UTF-8 only once the message is complete
    # sends nothing, and the wait ends after WAIT_S with a failure.

    def test_6_14_fail_fast_invalid_first_fragment(self):
        for name in FAIL_FAST:
            with self.subTest(name):
                ws = self.connect()
                ws.send_frame(OP_TEXT, command_with(INVALID[name]), fin=False)
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_15_fail_fast_invalid_middle_fragment(self):
        # Autobahn 6.4.1 and 6.4.2: a valid fragment, then one with an invalid code point (at its start
        # or after valid text); the final fragment is never sent.
        for second in (b"\xf4\x90\x80\x80", b"edited\xf4\x90\x80\x80"):
            with self.subTest(second=second):
                ws = self.connect()
                ws.send_frame(OP_TEXT, "κόσμε".encode(), fin=False)
                ws.send_frame(OP_CONT, second, fin=False)
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_16_fail_fast_inside_one_frame(self):
        # Autobahn 6.4.3 and 6.4.4: one unfragmented frame announcing its whole length, of which only
        # the bytes up to the invalid code point are sent.
        rest = b"x" * 64
        for head in (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90", b"\xf4\x90"):
            with self.subTest(head=head):
                ws = self.connect()
                frame = build_frame(OP_TEXT, head + rest)
                ws.send_raw(frame[:len(frame) - len(rest)])
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_17_fail_fast_invalid_character_cut_between_fragments(self):
        # Each first fragment ends with a lead byte that is fine on its own; the second fragment's
        # first byte makes it an overlong, a surrogate or a code point above U+10FFFF.
        for first, second in ((b"a\xe0", b"\x80b"), (b"a\xed", b"\xa0\x80"), (b"a\xf4", b"\x90\x80\x80"),
                              (b"a\xf0\x9f", b"\x98z")):
            with self.subTest(first=first, second=second):
                ws = self.connect()
                ws.send_frame(OP_TEXT, first, fin=False)
                ws.send_frame(OP_CONT, second, fin=False)
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_6_18_cut_character_in_a_fragment_is_not_an_error(self):
        # The other side of failing fast: a fragment that ends inside a character is waited on. A ping
        # between the fragments is answered, and the message completes.
        ws = self.connect()
        payload = command_with(VALID["emoji"])
        cut = payload.index(VALID["emoji"]) + 2
        ws.send_frame(OP_TEXT, payload[:cut], fin=False)
        ws.send_frame(OP_PING, b"still there")
        self.expect_frame(ws, OP_PONG, b"still there")
        ws.send_frame(OP_CONT, payload[cut:], fin=True)
        self.expect_pong_command(ws)


if __name__ == "__main__":
    main()
