"""Case group 3 (Autobahn 3.x), reserved bits: no extension is negotiated, so a frame with RSV1, RSV2
or RSV3 set fails the connection with 1002, whatever its opcode, even after valid traffic, and nothing
behind it is answered."""

from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, PING_COMMAND, ConformanceCase,
                      build_frame, close_payload, main)

RSV = {"RSV1": 4, "RSV2": 2, "RSV3": 1, "RSV1+2": 6, "RSV1+2+3": 7}


class ReservedBits(ConformanceCase):
    def check(self, opcode, payload, prefix=b"", expect_before=()):
        for name, bits in RSV.items():
            with self.subTest(rsv=name, opcode=opcode):
                ws = self.connect()
                # A ping behind the bad frame must get no pong: the server reads nothing after it.
                ws.send_raw(prefix + build_frame(opcode, payload, rsv=bits) + build_frame(OP_PING, b"behind"))
                for expect in expect_before:
                    expect(ws)
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_3_1_text(self):
        self.check(OP_TEXT, PING_COMMAND)

    def test_3_2_text_after_a_valid_command(self):
        self.check(OP_TEXT, PING_COMMAND, prefix=build_frame(OP_TEXT, PING_COMMAND),
                   expect_before=(self.expect_pong_command,))

    def test_3_3_binary(self):
        self.check(OP_BINARY, b"\x00\x01\x02")

    def test_3_4_ping(self):
        self.check(OP_PING, b"ping")

    def test_3_5_pong(self):
        self.check(OP_PONG, b"pong")

    def test_3_6_close(self):
        self.check(OP_CLOSE, close_payload(1000))

    def test_3_7_continuation_of_a_fragmented_text(self):
        self.check(OP_CONT, b'"data":{}}', prefix=build_frame(OP_TEXT, b'{"type":"PING",', fin=False))

    def test_3_8_text_header_in_1_byte_chunks(self):
        # The bits are refused from the first two header bytes, before the mask key and payload.
        ws = self.connect()
        ws.send_chunks(build_frame(OP_TEXT, PING_COMMAND, rsv=4)[:2], 1, pause=0.001)
        self.expect_fail(ws, 1002)

    def test_3_9_ping_in_1_byte_chunks_after_a_pong(self):
        ws = self.connect()
        ws.send_ping(b"first")
        self.expect_pong(ws, b"first")
        ws.send_chunks(build_frame(OP_PING, b"second", rsv=1), 1, pause=0.001)
        self.expect_fail(ws, 1002)


if __name__ == "__main__":
    main()
