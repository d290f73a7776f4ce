"""Case group 6 (Autobahn 6.x), UTF-8: a text message must be valid UTF-8 as a whole (RFC 3629: no
overlong forms, no surrogates, nothing above U+10FFFF, no truncated or stray bytes), else the
connection fails with 1007. Valid text passes however it is cut into fragments, even inside a
character; invalid text fails however it is cut. Observed through commands: a PING command carrying the
text in a string field gets a PONG; a JOIN of a room with a multi-byte name receives that room's push."""

from wsclient import OP_CONT, OP_TEXT, ConformanceCase, build_frame, main


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


if __name__ == "__main__":
    main()
