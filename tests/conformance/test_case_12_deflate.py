"""Case groups 12 and 13 (Autobahn 12.x/13.x, adapted) and RFC 7692 section 8, permessage-deflate.
Negotiation: which offers the server accepts (browsers' offers, server_max_window_bits=15 echoed) and
which it declines (a window under 15 bits, unknown, repeated or badly valued parameters), offers tried in
order over several headers, other extensions ignored, --compression false; an upgrade is never refused
over extensions. Inbound: compressed commands, whole, fragmented at every byte and sent byte by byte,
inflated with a fresh window per message. Outbound: a push at or above --compression-min-bytes reaches a
negotiated member with RSV1 and inflates to exactly the frame a plain member receives; a smaller one
arrives plain. Failures: a deflate bomb (1009, counted), RSV1 where it may not be (1002), RSV2/RSV3,
corrupt data, a client that keeps its context and invalid UTF-8 after inflating (1007)."""

import json
import zlib

from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, PING_COMMAND, ConformanceCase,
                      build_compressed, build_frame, close_payload, deflate, inflate, main, parse_extensions)

DEFLATE = "permessage-deflate"
# What the server answers to an offer it accepts (RFC 7692 7.1: it keeps no context between the
# messages it sends, and asks the client to keep none either).
ACCEPTED = {"server_no_context_takeover": None, "client_no_context_takeover": None}
LIMIT = 65536  # the server's default --max-message
MIN_BYTES = 128  # the server's default --compression-min-bytes


def chat_items(n, text_bytes=120, start=0):
    """Realistic chat items: who, when, what, with a text about `text_bytes` long."""
    words = "the quick brown fox jumps over the lazy dog while the band plays on".split()
    items = []
    for i in range(start, start + n):
        text = " ".join(words[(i + j) % len(words)] for j in range(text_bytes // 4))[:text_bytes]
        items.append({"id": i, "user": f"user{i % 7}", "ts": 1700000000000 + i, "text": text})
    return items


class DeflateCase(ConformanceCase):
    def connect_deflate(self, offer=DEFLATE, **kw):
        """A connection that offered `offer` and must have negotiated permessage-deflate."""
        ws = self.connect(extensions=offer, **kw)
        answer = parse_extensions(ws.extensions)
        self.assertEqual([name for name, _ in answer], [DEFLATE],
                         f"offer {offer!r} not accepted: the 101 answered Sec-WebSocket-Extensions: {ws.extensions!r}")
        return ws

    def stat(self, name):
        stats = self.server.stats()
        self.assertIn(name, stats, f"/stats has no {name!r}")
        return stats[name]

    def wait_stat_at_least(self, name, value):
        self.stat(name)  # present at all
        return self.server.wait_stat(name, lambda v: v >= value)

    def push(self, room, items):
        status, body = self.server.push_room(room, items)
        self.assertEqual(status, 200, body)
        return body

    def room(self):
        return self.id().rsplit(".", 1)[-1]


class Negotiation(DeflateCase):
    """Every case upgrades (101) and the connection then works; only the answer differs."""

    ACCEPT = {
        "Firefox's bare offer": (DEFLATE, ACCEPTED),
        "Chrome's offer": (f"{DEFLATE}; client_max_window_bits", ACCEPTED),
        "server_max_window_bits=15 is echoed": (f"{DEFLATE}; server_max_window_bits=15",
                                                {**ACCEPTED, "server_max_window_bits": "15"}),
        "client_max_window_bits=8": (f"{DEFLATE}; client_max_window_bits=8", ACCEPTED),
        "client_max_window_bits=15": (f"{DEFLATE}; client_max_window_bits=15", ACCEPTED),
        "both no_context_takeover flags": (f"{DEFLATE}; server_no_context_takeover; client_no_context_takeover",
                                           ACCEPTED),
        "every parameter": (f"{DEFLATE}; client_no_context_takeover; server_no_context_takeover; "
                            "server_max_window_bits=15; client_max_window_bits=12",
                            {**ACCEPTED, "server_max_window_bits": "15"}),
        "no spaces": (f"{DEFLATE};client_max_window_bits;server_max_window_bits=15",
                      {**ACCEPTED, "server_max_window_bits": "15"}),
        # Offers are tried in order: the first is declined, the second accepted.
        "a bad offer, then a good one": (f"{DEFLATE}; server_max_window_bits=10, {DEFLATE}; client_max_window_bits",
                                         ACCEPTED),
        "an unknown parameter, then the bare offer": (f"{DEFLATE}; foo, {DEFLATE}", ACCEPTED),
        "a good offer before a better one": (f"{DEFLATE}, {DEFLATE}; server_max_window_bits=15", ACCEPTED),
        "another extension first": (f"x-webkit-deflate-frame, {DEFLATE}", ACCEPTED),
        "another extension with parameters first": (f"foo; bar=1; baz, {DEFLATE}; client_max_window_bits",
                                                    ACCEPTED),
        "several headers": (["x-webkit-deflate-frame", f"{DEFLATE}; client_max_window_bits"], ACCEPTED),
        "several headers, the first offer bad": ([f"{DEFLATE}; server_max_window_bits=9",
                                                  f"{DEFLATE}; server_max_window_bits=15"],
                                                 {**ACCEPTED, "server_max_window_bits": "15"}),
    }

    DECLINE = {
        "server_max_window_bits=10": f"{DEFLATE}; server_max_window_bits=10",
        "server_max_window_bits=8": f"{DEFLATE}; server_max_window_bits=8",
        "server_max_window_bits=14": f"{DEFLATE}; server_max_window_bits=14",
        "server_max_window_bits without a value": f"{DEFLATE}; server_max_window_bits",
        "server_max_window_bits=16": f"{DEFLATE}; server_max_window_bits=16",
        "an unknown parameter": f"{DEFLATE}; foo",
        "an unknown parameter with a value": f"{DEFLATE}; foo=1",
        "a repeated parameter": f"{DEFLATE}; client_max_window_bits; client_max_window_bits",
        "a repeated flag": f"{DEFLATE}; server_no_context_takeover; server_no_context_takeover",
        "a repeated window, same value": f"{DEFLATE}; server_max_window_bits=15; server_max_window_bits=15",
        "client_max_window_bits=16": f"{DEFLATE}; client_max_window_bits=16",
        "client_max_window_bits=7": f"{DEFLATE}; client_max_window_bits=7",
        "client_max_window_bits=0": f"{DEFLATE}; client_max_window_bits=0",
        "client_max_window_bits=abc": f"{DEFLATE}; client_max_window_bits=abc",
        "client_max_window_bits empty": f"{DEFLATE}; client_max_window_bits=",
        "server_no_context_takeover=1": f"{DEFLATE}; server_no_context_takeover=1",
        "client_no_context_takeover=true": f"{DEFLATE}; client_no_context_takeover=true",
        "only bad offers": f"{DEFLATE}; server_max_window_bits=10, {DEFLATE}; foo",
        "only other extensions": "x-webkit-deflate-frame, foo; bar",
        "an empty header": "",
        "several headers, all bad": [f"{DEFLATE}; server_max_window_bits=12", f"{DEFLATE}; x=1"],
    }

    def test_12_1_1_accepted_offers(self):
        before = self.stat("deflateNegotiated")
        for name, (offer, params) in self.ACCEPT.items():
            with self.subTest(name, offer=offer):
                ws = self.connect(extensions=offer)
                self.assertEqual(parse_extensions(ws.extensions), [(DEFLATE, params)],
                                 f"Sec-WebSocket-Extensions answered: {ws.extensions!r}")
                self.assert_alive(ws)
                ws.close_socket()
        self.assertEqual(self.stat("deflateNegotiated") - before, len(self.ACCEPT))

    def test_12_1_2_declined_offers_upgrade_without_the_extension(self):
        before = self.stat("deflateNegotiated")
        for name, offer in self.DECLINE.items():
            with self.subTest(name, offer=offer):
                ws = self.connect(extensions=offer)  # raises unless 101
                self.assertIsNone(ws.extensions, f"declined offer answered with {ws.extensions!r}")
                self.assert_alive(ws)
                ws.close_socket()
        self.assertEqual(self.stat("deflateNegotiated"), before)

    def test_12_1_3_no_offer_no_extension(self):
        ws = self.connect()
        self.assertIsNone(ws.extensions)
        self.assert_alive(ws)

    def test_12_1_4_negotiated_on_the_nano_path_too(self):
        ws = self.connect(path="/nano", extensions=f"{DEFLATE}; client_max_window_bits")
        self.assertEqual(parse_extensions(ws.extensions), [(DEFLATE, ACCEPTED)], ws.response_head)

    def test_12_1_5_declined_offer_then_rsv1_fails(self):
        # A declined offer leaves no extension: RSV1 is a protocol error there.
        ws = self.connect(extensions=f"{DEFLATE}; server_max_window_bits=10")
        self.assertIsNone(ws.extensions)
        ws.send_compressed(OP_TEXT, PING_COMMAND)
        self.expect_fail(ws, 1002)


class CompressionOff(DeflateCase):
    FLAGS = ("--compression", "false")

    def test_12_1_6_never_negotiated(self):
        for offer in (DEFLATE, f"{DEFLATE}; client_max_window_bits", f"{DEFLATE}; server_max_window_bits=15",
                      ["x-webkit-deflate-frame", DEFLATE]):
            with self.subTest(offer=offer):
                ws = self.connect(extensions=offer)
                self.assertIsNone(ws.extensions, f"--compression false answered {ws.extensions!r}")
                self.assert_alive(ws)
                ws.close_socket()
        self.assertEqual(self.stat("deflateNegotiated"), 0)

    def test_12_1_7_rsv1_fails_and_pushes_stay_plain(self):
        ws = self.connect(extensions=DEFLATE)
        self.join(ws, "off")
        items = chat_items(4)
        self.push("off", items)
        self.expect_push(ws, items)  # RSV1 clear
        ws.send_compressed(OP_TEXT, PING_COMMAND)
        self.expect_fail(ws, 1002)


class Inbound(DeflateCase):
    """Compressed client messages: the server inflates each from an empty window and handles the
    command inside; a PONG (plain, as replies are) proves it."""

    def test_12_2_1_compressed_ping_command(self):
        ws = self.connect_deflate()
        before = self.stat("inflateMessages")
        for level in (1, 6, 9, 0):  # 0: stored (uncompressed) DEFLATE blocks, RFC 7692 7.2.3.5
            with self.subTest(level=level):
                ws.send_compressed(OP_TEXT, PING_COMMAND, level=level)
                self.expect_pong_command(ws)
        self.assertGreaterEqual(self.stat("inflateMessages") - before, 4)

    def test_12_2_2_compressed_join_then_push(self):
        ws = self.connect_deflate(f"{DEFLATE}; client_max_window_bits")
        room = self.room()
        ws.send_compressed(OP_TEXT, json.dumps({"type": "JOIN", "data": {"room": room}}))
        ws.send_compressed(OP_TEXT, PING_COMMAND)
        self.expect_pong_command(ws)
        items = ["hi"]
        self.push(room, items)
        self.expect_push(ws, items)  # small: plain

    def test_12_2_3_large_and_padded_commands(self):
        ws = self.connect_deflate()
        for n in (125, 126, 1000, 65535, LIMIT):
            with self.subTest(length=n):
                ws.send_compressed(OP_TEXT, self.ping_command(n))
                self.expect_pong_command(ws)

    def test_12_2_4_fragmented_compressed_message(self):
        ws = self.connect_deflate()
        payload = self.ping_command(300)
        data = deflate(payload)
        for name, cuts in {"three fragments": (len(data) // 3, 2 * len(data) // 3),
                           "an empty first fragment": (0,),
                           "an empty last fragment": (len(data),),
                           "one fragment per byte": range(1, len(data))}.items():
            with self.subTest(name):
                ws.send_raw(build_compressed(OP_TEXT, payload, cuts=cuts))
                self.expect_pong_command(ws)

    def test_12_2_5_compressed_message_sent_byte_by_byte(self):
        ws = self.connect_deflate()
        payload = self.ping_command(200)
        for cuts in ((), (5, 9)):
            with self.subTest(cuts=cuts):
                ws.send_chunks(build_compressed(OP_TEXT, payload, cuts=cuts), 1, pause=0.0005)
                self.expect_pong_command(ws)

    def test_12_2_6_ping_between_compressed_fragments(self):
        ws = self.connect_deflate()
        data = deflate(PING_COMMAND)
        cut = len(data) // 2
        ws.send_raw(build_frame(OP_TEXT, data[:cut], fin=False, rsv=4) + build_frame(OP_PING, b"between") +
                    build_frame(OP_CONT, data[cut:]))
        self.expect_pong(ws, b"between")
        self.expect_pong_command(ws)

    def test_12_2_7_plain_messages_on_a_negotiated_connection(self):
        ws = self.connect_deflate()
        ws.send_text(PING_COMMAND)
        self.expect_pong_command(ws)
        ws.send_compressed(OP_TEXT, PING_COMMAND)
        self.expect_pong_command(ws)
        ws.send_raw(build_frame(OP_TEXT, PING_COMMAND[:10], fin=False) + build_frame(OP_CONT, PING_COMMAND[10:]))
        self.expect_pong_command(ws)
        ws.send_binary(b"\x00\x01")
        self.assert_alive(ws)

    def test_12_2_8_compressed_binary_and_empty_messages(self):
        ws = self.connect_deflate()
        ws.send_compressed(OP_BINARY, b"\x00\xff" * 500)  # go-push ignores binary messages
        ws.send_compressed(OP_BINARY, b"")
        self.assert_alive(ws)
        # An empty compressed text message is an empty command: malformed JSON, 1007 -- proof that it was
        # inflated to nothing rather than refused as a frame.
        ws.send_compressed(OP_TEXT, b"")
        self.expect_close(ws, 1007)

    def test_12_2_9_final_deflate_block(self):
        # RFC 7692 7.2.3.3: the sender may end the message with a block whose BFINAL bit is set (here
        # Z_FINISH, so the data does not end in 00 00 ff ff); the receiver appends the tail anyway.
        ws = self.connect_deflate()
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = compressor.compress(PING_COMMAND) + compressor.flush(zlib.Z_FINISH)
        ws.send_raw(build_compressed(OP_TEXT, None, data=data))
        self.expect_pong_command(ws)
        self.assert_alive(ws)

    def test_12_2_10_rfc_7692_example(self):
        # RFC 7692 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00, here a binary message (not a
        # command); then a PING command compressed as its own message, from an empty window again.
        ws = self.connect_deflate()
        self.assertEqual(inflate(bytes.fromhex("f248cdc9c90700")), b"Hello")
        ws.send_raw(build_compressed(OP_BINARY, None, data=bytes.fromhex("f248cdc9c90700")))
        ws.send_compressed(OP_TEXT, PING_COMMAND)
        self.expect_pong_command(ws)


class Outbound(DeflateCase):
    """Pushes to a room with a negotiated and a plain member: the negotiated one gets the same frame
    compressed (RSV1) when it is at least --compression-min-bytes, plain otherwise."""

    MIN_BYTES = MIN_BYTES

    def members(self, room):
        deflated = self.connect_deflate()
        plain = self.connect()
        self.assertIsNone(plain.extensions)
        for ws in (deflated, plain):
            self.join(ws, room)
        return deflated, plain

    def check_push(self, reference, frame):
        """`frame` is what the deflate member received for the PUSH `reference` the plain member
        received: compressed when reference is at least MIN_BYTES long, the same bytes otherwise.
        Returns whether it was compressed."""
        self.assertTrue(frame.fin, f"a push is one frame: {frame!r}")
        self.assertEqual(frame.opcode, OP_TEXT)
        if len(reference) >= self.MIN_BYTES:
            self.assertEqual(frame.rsv, 4, f"a {len(reference)}-byte push reached a deflate member without "
                                           f"RSV1 (--compression-min-bytes {self.MIN_BYTES})")
            self.assertEqual(inflate(frame.payload), reference)  # from an empty window
            self.assertLess(len(frame.payload), len(reference))
            return True
        self.assertEqual(frame.rsv, 0, f"a {len(reference)}-byte push was compressed "
                                       f"(--compression-min-bytes {self.MIN_BYTES})")
        self.assertEqual(frame.payload, reference)
        return False

    def push_and_compare(self, room, deflated, plain, items):
        """Pushes items; returns (the plain PUSH frame's payload, whether the deflate member got it
        compressed)."""
        self.push(room, items)
        opcode, rsv, reference = plain.recv_message()
        self.assertEqual((opcode, rsv), (OP_TEXT, 0))
        msg = json.loads(reference)
        self.assertEqual((msg["type"], msg["data"]["items"]), ("PUSH", items))
        return reference, self.check_push(reference, deflated.recv_frame())

    def test_12_3_1_large_pushes_compressed_and_identical(self):
        room = self.room()
        deflated, plain = self.members(room)
        before = {k: self.stat(k) for k in ("deflateFrames", "deflateBytesIn", "deflateBytesOut")}
        compressed_bytes, compressed_frames = 0, 0
        for n, text_bytes in ((1, 200), (3, 120), (10, 300), (60, 250)):
            with self.subTest(items=n, text_bytes=text_bytes):
                reference, compressed = self.push_and_compare(room, deflated, plain, chat_items(n, text_bytes))
                compressed_frames += compressed
                compressed_bytes += len(reference) if compressed else 0
        self.assertGreaterEqual(compressed_frames, 2)  # the largest ones, whatever MIN_BYTES
        after = {k: self.stat(k) for k in before}
        self.assertGreaterEqual(after["deflateFrames"] - before["deflateFrames"], compressed_frames)
        bytes_in = after["deflateBytesIn"] - before["deflateBytesIn"]
        self.assertGreaterEqual(bytes_in, compressed_bytes)  # our frames, once per shard
        self.assertLess(after["deflateBytesOut"] - before["deflateBytesOut"], bytes_in)

    def test_12_3_2_small_pushes_plain(self):
        room = self.room()
        deflated, plain = self.members(room)
        before = self.stat("deflateSkipped")
        for items in (["hi"], [1, 2, 3], [{"u": "ann", "t": "ok"}]):
            with self.subTest(items=items):
                _, compressed = self.push_and_compare(room, deflated, plain, items)
                self.assertFalse(compressed)
        self.assertGreaterEqual(self.stat("deflateSkipped") - before, 3)

    def test_12_3_3_threshold_is_inclusive(self):
        # Pushes whose PUSH frame is MIN_BYTES - 1, MIN_BYTES and MIN_BYTES + 1 long, sized from the
        # frame the plain member received before (its seq and room are part of it).
        room = self.room()
        deflated, plain = self.members(room)
        last, _ = self.push_and_compare(room, deflated, plain, ["x"])
        last_text = 1
        seen = set()
        for target in (self.MIN_BYTES - 1, self.MIN_BYTES, self.MIN_BYTES + 1):
            for _ in range(2):  # again if the seq just gained a digit
                text = target - len(last) + last_text
                last, _ = self.push_and_compare(room, deflated, plain, ["x" * text])
                last_text = text
                if len(last) == target:
                    seen.add(target)
                    break
        self.assertEqual(seen, {self.MIN_BYTES - 1, self.MIN_BYTES, self.MIN_BYTES + 1})

    def test_12_3_4_push_to_all(self):
        deflated = self.connect_deflate()
        plain = self.connect()
        self.join(deflated, "all-a")
        self.join(plain, "all-b")
        for items in (chat_items(10), ["small"]):
            with self.subTest(items=len(items)):
                status, body = self.server.push_all(items)
                self.assertEqual(status, 200, body)
                _, rsv, reference = plain.recv_message()
                self.assertEqual(rsv, 0)
                self.check_push(reference, deflated.recv_frame())

    def test_12_3_5_replies_stay_plain(self):
        # A recovery replay and JOINED go to one connection: plain, even when large.
        room = self.room()
        ws = self.connect_deflate()
        self.join(ws, room)
        since = self.push(room, ["first"])["seq"]
        ws.recv_message()
        missed = chat_items(20)
        self.push(room, missed)
        ws.recv_message()
        again = self.connect_deflate()
        again.send_text(json.dumps({"type": "JOIN", "data": {"room": room, "since": since}}))
        replayed = []
        while True:
            opcode, rsv, payload = again.recv_message()
            msg = json.loads(payload)
            self.assertEqual((opcode, rsv), (OP_TEXT, 0), msg)
            if msg["type"] == "JOINED":
                break
            self.assertEqual(msg["type"], "PUSH", msg)
            replayed.extend(msg["data"]["items"])
        self.assertEqual(replayed, missed)
        self.assertTrue(msg["data"]["recovered"], msg)
        self.assert_alive(again)


class OutboundMinBytes(Outbound):
    """The same with a raised threshold."""

    MIN_BYTES = 1000
    FLAGS = ("--compression-min-bytes", MIN_BYTES)

    def test_12_3_6_between_default_and_raised_threshold_plain(self):
        room = self.room()
        deflated, plain = self.members(room)
        reference, compressed = self.push_and_compare(room, deflated, plain, chat_items(3, 120))
        self.assertTrue(MIN_BYTES < len(reference) < self.MIN_BYTES and not compressed, len(reference))
        reference, compressed = self.push_and_compare(room, deflated, plain, chat_items(20, 120))
        self.assertTrue(compressed, len(reference))


class Limits(DeflateCase):
    """--max-message bounds the inflated size (default 65536)."""

    def test_12_4_1_inflated_at_the_limit_accepted(self):
        ws = self.connect_deflate()
        ws.send_compressed(OP_TEXT, self.ping_command(LIMIT))
        self.expect_pong_command(ws)
        ws.send_compressed(OP_BINARY, b"\x00" * LIMIT)
        self.assert_alive(ws)

    def test_12_4_2_inflated_one_byte_over_fails(self):
        for opcode, payload in ((OP_TEXT, self.ping_command(LIMIT + 1)), (OP_BINARY, b"\x00" * (LIMIT + 1))):
            with self.subTest(opcode=opcode):
                before = self.stat("closeTooBig")
                ws = self.connect_deflate()
                ws.send_compressed(opcode, payload)
                self.expect_fail(ws, 1009)
                self.wait_stat_at_least("closeTooBig", before + 1)
                ws.close_socket()

    def test_12_4_3_deflate_bomb(self):
        # 10 MB of zeros in about 10 KB: far under the limit on the wire, 160 times it inflated.
        bomb = deflate(b"\x00" * (10 << 20), level=9)
        self.assertLess(len(bomb), 20000)
        for opcode in (OP_BINARY, OP_TEXT):
            with self.subTest(opcode=opcode):
                before = self.stat("closeTooBig")
                ws = self.connect_deflate()
                ws.send_raw(build_compressed(opcode, None, data=bomb))
                self.expect_fail(ws, 1009)
                self.wait_stat_at_least("closeTooBig", before + 1)
                ws.close_socket()

    def test_12_4_4_compressed_bytes_bounded_from_the_declared_length(self):
        # The server inflates a message once it has all of it, so it must not buffer compressed bytes
        # without bound either: no message of LIMIT bytes needs four times that compressed (DEFLATE
        # adds 5 bytes per 64 KiB stored block to incompressible data), and a frame declaring that much
        # is refused from its header, without its payload.
        for opcode in (OP_TEXT, OP_BINARY):
            with self.subTest(opcode=opcode):
                ws = self.connect_deflate()
                ws.send_frame(opcode, deflate(b"\x00" * 1000)[:8], rsv=4, length=4 * LIMIT)
                self.expect_fail(ws, 1009)
                ws.close_socket()

    def test_12_4_5_bomb_in_small_fragments(self):
        bomb = deflate(b"\x00" * (1 << 20), level=9)
        ws = self.connect_deflate()
        ws.send_raw(build_compressed(OP_BINARY, None, data=bomb, cuts=range(64, len(bomb), 64)))
        self.expect_fail(ws, 1009)


class Errors(DeflateCase):
    def test_12_5_1_rsv1_on_control_frames(self):
        for opcode, payload in ((OP_PING, b"ping"), (OP_PONG, b"pong"), (OP_CLOSE, close_payload(1000))):
            with self.subTest(opcode=opcode):
                ws = self.connect_deflate()
                # Even when the payload is valid compressed data, a control frame is never compressed.
                ws.send_raw(build_frame(opcode, deflate(payload), rsv=4) + build_frame(OP_PING, b"behind"))
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_12_5_2_rsv1_on_a_continuation(self):
        data = deflate(self.ping_command(200))
        cut = len(data) // 2
        for name, first_rsv in (("compressed message", 4), ("plain message", 0)):
            with self.subTest(name):
                ws = self.connect_deflate()
                first = build_frame(OP_TEXT, data[:cut] if first_rsv else PING_COMMAND[:10], fin=False, rsv=first_rsv)
                rest = build_frame(OP_CONT, data[cut:] if first_rsv else PING_COMMAND[10:], rsv=4)
                ws.send_raw(first + rest)
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_12_5_3_rsv1_without_negotiation(self):
        ws = self.connect()
        self.assertIsNone(ws.extensions)
        ws.send_compressed(OP_TEXT, PING_COMMAND)
        self.expect_fail(ws, 1002)

    def test_12_5_4_rsv2_rsv3_with_deflate(self):
        for rsv in (2, 1, 6, 5, 7):
            with self.subTest(rsv=rsv):
                ws = self.connect_deflate()
                ws.send_compressed(OP_TEXT, PING_COMMAND, rsv=rsv)
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_12_5_5_corrupt_deflate_data(self):
        # Binary messages, which go-push does not parse: a 1007 can only come from inflating.
        good = deflate(b"\x01" * 300)
        cases = {"invalid block type": b"\xff\xff\xff\xff",
                 "truncated then garbage": good[:len(good) // 2] + b"\xff" * 8,
                 "a stored block with a bad length check": b"\x00\x05\x00\x00\x00hello"}
        for name, data in cases.items():
            with self.subTest(name):
                with self.assertRaises(zlib.error, msg="the test's data must be corrupt"):
                    inflate(data)
                ws = self.connect_deflate()
                ws.send_raw(build_compressed(OP_BINARY, None, data=data))
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_12_5_6_inflates_to_invalid_utf8(self):
        bad = b'{"type":"PING","data":{},"x":"\xc3\x28"}'
        ws = self.connect_deflate()
        ws.send_compressed(OP_BINARY, bad)  # binary is not UTF-8 checked
        self.assert_alive(ws)
        ws.send_compressed(OP_TEXT, bad)
        self.expect_fail(ws, 1007)
        ws.close_socket()
        # Split over fragments, the bad byte in the last one.
        ws = self.connect_deflate()
        data = deflate(bad)
        ws.send_raw(build_compressed(OP_TEXT, None, data=data, cuts=range(1, len(data))))
        self.expect_fail(ws, 1007)

    def test_12_5_7_client_keeping_its_context(self):
        # We asked for client_no_context_takeover: a second message compressed on the first one's
        # window refers back past its own start, which the server cannot (and must not) resolve.
        message = self.ping_command(300)
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        first, second = deflate(message, compressor=compressor), deflate(message, compressor=compressor)
        self.assertEqual(inflate(first), message)
        with self.assertRaises(zlib.error, msg="the second message must refer back into the first"):
            inflate(second)
        for opcode in (OP_TEXT, OP_BINARY):
            with self.subTest(opcode=opcode):
                ws = self.connect_deflate()
                ws.send_raw(build_compressed(opcode, None, data=first))
                if opcode == OP_TEXT:
                    self.expect_pong_command(ws)  # the first message is a PING command itself
                self.assert_alive(ws)
                ws.send_raw(build_compressed(opcode, None, data=second))
                self.expect_fail(ws, 1007)
                ws.close_socket()

    def test_12_5_8_nothing_behind_a_failure_is_answered(self):
        ws = self.connect_deflate()
        ws.send_raw(build_compressed(OP_BINARY, None, data=b"\xff\xff\xff\xff") +
                    build_compressed(OP_TEXT, PING_COMMAND) + build_frame(OP_PING, b"behind"))
        self.expect_fail(ws, 1007)


if __name__ == "__main__":
    main()
