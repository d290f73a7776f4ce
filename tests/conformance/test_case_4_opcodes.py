"""Case group 4 (Autobahn 4.x), opcodes: the reserved non-control opcodes 0x3-0x7 and control opcodes
0xB-0xF fail the connection with 1002, alone, with a payload, after a valid message, and split into
1-byte pieces; a ping behind the bad frame is not answered."""

from wsclient import OP_PING, OP_TEXT, PING_COMMAND, ConformanceCase, build_frame, main

NON_CONTROL = (0x3, 0x4, 0x5, 0x6, 0x7)
CONTROL = (0xB, 0xC, 0xD, 0xE, 0xF)


class ReservedOpcodes(ConformanceCase):
    def check(self, opcodes, payload=b"", after_valid=False, chunked=False):
        for opcode in opcodes:
            with self.subTest(opcode=f"0x{opcode:X}", payload=len(payload), after_valid=after_valid):
                ws = self.connect()
                stream = build_frame(opcode, payload) + build_frame(OP_PING, b"behind")
                if after_valid:
                    stream = build_frame(OP_TEXT, PING_COMMAND) + stream
                if chunked:
                    ws.send_chunks(stream, 1, pause=0.0005)
                else:
                    ws.send_raw(stream)
                if after_valid:
                    self.expect_pong_command(ws)
                self.expect_fail(ws, 1002)
                ws.close_socket()

    def test_4_1_1_non_control_empty(self):
        self.check(NON_CONTROL)

    def test_4_1_2_non_control_with_payload(self):
        self.check(NON_CONTROL, PING_COMMAND)

    def test_4_1_3_non_control_after_a_valid_command(self):
        self.check(NON_CONTROL, PING_COMMAND, after_valid=True)

    def test_4_1_4_non_control_in_1_byte_chunks(self):
        self.check(NON_CONTROL, b"reserved", after_valid=True, chunked=True)

    def test_4_2_1_control_empty(self):
        self.check(CONTROL)

    def test_4_2_2_control_with_payload(self):
        self.check(CONTROL, b"ping-like payload")

    def test_4_2_3_control_after_a_valid_command(self):
        self.check(CONTROL, b"x", after_valid=True)

    def test_4_2_4_control_in_1_byte_chunks(self):
        self.check(CONTROL, b"reserved", after_valid=True, chunked=True)

    def test_4_3_reserved_opcode_inside_a_fragmented_message(self):
        for opcode in NON_CONTROL + CONTROL:
            with self.subTest(opcode=f"0x{opcode:X}"):
                ws = self.connect()
                ws.send_raw(build_frame(OP_TEXT, PING_COMMAND[:10], fin=False) + build_frame(opcode, b""))
                self.expect_fail(ws, 1002)
                ws.close_socket()


if __name__ == "__main__":
    main()
