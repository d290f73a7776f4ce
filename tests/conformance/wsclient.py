"""A raw-socket WebSocket client for the conformance suite. Real clients refuse to send malformed
frames, so this one builds every frame by hand: any flags, opcode, declared length, length encoding and
mask, sent whole or in chunks with pauses so that the server sees every split point. It can offer
extensions and compress or inflate messages as permessage-deflate (RFC 7692) does, with zlib's raw
DEFLATE. It also holds the suite's shared test base (one ringcast per test class) and the go-push
command helpers."""

import itertools
import json
import os
import random
import socket
import struct
import sys
import time
import unittest
import zlib
from base64 import b64encode
from hashlib import sha1

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Failure bound for every wait on the server. Never a timing assertion: a correct server answers in
# milliseconds, this only keeps a broken one from hanging the suite.
WAIT_S = 4.0

# The servers wait this long for a client's close frame after sending theirs: far longer than WAIT_S, so
# every case also checks that the server closes TCP at once after failing a connection, instead of
# waiting for a close handshake that cannot come. Lower it (RINGCAST_CONFORMANCE_CLOSE_TIMEOUT_MS) only
# to keep a server with that bug from slowing the suite down while it is being fixed.
STRICT_CLOSE_TIMEOUT_MS = 60000
CLOSE_TIMEOUT_MS = int(os.environ.get("RINGCAST_CONFORMANCE_CLOSE_TIMEOUT_MS", str(STRICT_CLOSE_TIMEOUT_MS)))

PING_COMMAND = b'{"type":"PING","data":{}}'
PONG_COMMAND = {"type": "PONG", "data": {}}

# RFC 7692 7.2.1: a compressed message is the DEFLATE data flushed with an empty stored block, whose
# four trailing bytes are removed by the sender and appended again by the receiver.
DEFLATE_TAIL = b"\x00\x00\xff\xff"


class Closed(Exception):
    """The server ended the TCP connection (orderly FIN or reset) while we were reading."""


def build_frame(opcode, payload=b"", fin=True, rsv=0, masked=True, mask_key=None, length=None,
                length_form=None):
    """Bytes of one client frame.

    rsv: the three reserved bits as a number 0..7 (4 = RSV1, 2 = RSV2, 1 = RSV3).
    length: the declared payload length, if it must differ from len(payload) (the payload is still
        sent as given, e.g. just the header of a frame announcing more than we send).
    length_form: 7, 16 or 64 to force an encoding of the length (non-minimal ones included);
        None picks the minimal one.
    mask_key: 4 bytes; random when None. masked=False sends the payload in clear without a key.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    declared = len(payload) if length is None else length
    if length_form is None:
        length_form = 7 if declared < 126 else 16 if declared <= 0xFFFF else 64
    head = bytearray([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)])
    mask_bit = 0x80 if masked else 0
    if length_form == 7:
        assert declared < 126
        head.append(mask_bit | declared)
    elif length_form == 16:
        head.append(mask_bit | 126)
        head += struct.pack(">H", declared)
    else:
        head.append(mask_bit | 127)
        head += struct.pack(">Q", declared)
    if not masked:
        return bytes(head) + payload
    key = os.urandom(4) if mask_key is None else mask_key
    return bytes(head) + key + mask(payload, key)


def mask(payload, key):
    # XOR through int.from_bytes: fast enough for megabyte payloads without numpy.
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    n = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return n.to_bytes(len(payload), "big")


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack(">H", code) + reason


def deflate(payload, level=6, compressor=None):
    """The permessage-deflate payload of one message: raw DEFLATE (15-bit window), flushed with
    Z_SYNC_FLUSH, its trailing 00 00 ff ff removed. A fresh compressor per message unless one is
    given (keeping its context refers back to earlier messages)."""
    if isinstance(payload, str):
        payload = payload.encode()
    if compressor is None:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(DEFLATE_TAIL), data[-8:]
    return data[:-len(DEFLATE_TAIL)]


def inflate(data, max_length=0):
    """The message a permessage-deflate payload holds, inflated from an empty window."""
    out = zlib.decompressobj(-15)
    return out.decompress(data + DEFLATE_TAIL, max_length)


def build_compressed(opcode, payload, level=6, cuts=(), rsv=4, compressor=None, data=None):
    """Bytes of one compressed message (see WSClient.send_compressed); data: already compressed
    bytes to frame instead of deflating payload."""
    if data is None:
        data = deflate(payload, level, compressor)
    bounds = [0, *sorted(cuts), len(data)]
    frames = []
    for i in range(len(bounds) - 1):
        last = i == len(bounds) - 2
        frames.append(build_frame(opcode if i == 0 else OP_CONT, data[bounds[i]:bounds[i + 1]], fin=last,
                                  rsv=rsv if i == 0 else 0))
    return b"".join(frames)


def parse_extensions(value):
    """A Sec-WebSocket-Extensions value as [(name, {param: value or None})], in order."""
    if value is None:
        return []
    result = []
    for offer in value.split(","):
        parts = [p.strip() for p in offer.split(";")]
        params = {}
        for p in parts[1:]:
            name, eq, v = p.partition("=")
            if name.strip() in params:
                raise AssertionError(f"parameter {name.strip()!r} repeated in {value!r}")
            params[name.strip()] = v.strip().strip('"') if eq else None
        result.append((parts[0], params))
    return result


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    def __iter__(self):
        return iter((self.fin, self.rsv, self.opcode, self.payload))

    @property
    def close_code(self):
        return struct.unpack(">H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        shown = self.payload if len(self.payload) <= 64 else self.payload[:64] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, opcode=0x{self.opcode:X}, payload={shown!r})"


class WSClient:
    def __init__(self, port, host="127.0.0.1", path="/connect", timeout=WAIT_S, early=b"", request_sizes=None,
                 extensions=None):
        """Connects and upgrades. early: frame bytes sent in the same write as the upgrade request
        (the server must not lose them); request_sizes: send request + early in pieces (see
        send_chunks) instead of one write; extensions: the value of a Sec-WebSocket-Extensions
        header to offer, or a list of values sent as that many headers."""
        self.sock = harness.raw_connect(port, host, timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.send_refused = False  # a send found the connection closed by the server
        self.response_head = ""
        self.extensions = None  # the 101's Sec-WebSocket-Extensions (several headers joined by ", ")
        self.handshake(host, port, path, early, request_sizes, extensions)

    # ---- connection ----

    def handshake(self, host, port, path, early=b"", request_sizes=None, extensions=None):
        key = b64encode(os.urandom(16))
        if extensions is None:
            extensions = []
        elif isinstance(extensions, str):
            extensions = [extensions]
        offers = "".join(f"Sec-WebSocket-Extensions: {value}\r\n" for value in extensions)
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n{offers}\r\n").encode()
        if request_sizes is None:
            self.sock.sendall(request + early)
        else:
            self.send_chunks(request + early, request_sizes)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end]
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise AssertionError(f"handshake refused: {head!r}")
        fields = [(k.strip().lower(), v.strip()) for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)]
        headers = dict(fields)
        expected = b64encode(sha1(key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise AssertionError(f"bad Sec-WebSocket-Accept in {head!r}")
        self.response_head = head
        answers = [v for k, v in fields if k == "sec-websocket-extensions"]
        self.extensions = ", ".join(answers) if answers else None

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError as e:
            raise Closed("connection reset") from e
        except socket.timeout as e:
            raise AssertionError(f"nothing from the server within {self.sock.gettimeout()} s") from e
        if not chunk:
            raise Closed("connection closed (EOF)")
        self.buf += chunk

    # ---- sending ----

    def send_raw(self, data):
        """Sends bytes. A server that already failed the connection may have closed it while we are
        still sending (EPIPE, ECONNRESET): the send stops there and what it did send is read back."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.send_refused = True
            return False
        return True

    def send_chunks(self, data, sizes=1, pause=0.002):
        """Sends data in pieces: sizes is a fixed piece size or an iterable of sizes (the last piece
        takes what is left). Each piece is its own send (TCP_NODELAY is on) and is followed by a
        pause, so the server's reads end at many different points of the frames."""
        if isinstance(sizes, int):
            sizes = itertools.repeat(sizes)
        at = 0
        for size in sizes:
            if at >= len(data):
                break
            if not self.send_raw(data[at:at + size]):
                return
            at += size
            if pause:
                time.sleep(pause)
        if at < len(data):
            self.send_raw(data[at:])

    def send_frame(self, opcode, payload=b"", **kw):
        self.send_raw(build_frame(opcode, payload, **kw))

    def send_text(self, payload, **kw):
        self.send_frame(OP_TEXT, payload, **kw)

    def send_binary(self, payload, **kw):
        self.send_frame(OP_BINARY, payload, **kw)

    def send_ping(self, payload=b"", **kw):
        self.send_frame(OP_PING, payload, **kw)

    def send_pong(self, payload=b"", **kw):
        self.send_frame(OP_PONG, payload, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def send_compressed(self, opcode, payload, level=6, cuts=(), rsv=4, compressor=None):
        """Sends one message compressed as permessage-deflate: RSV1 (rsv) on its first frame only,
        the compressed bytes cut into fragments at the offsets in `cuts`. Returns the bytes sent."""
        data = build_compressed(opcode, payload, level=level, cuts=cuts, rsv=rsv, compressor=compressor)
        self.send_raw(data)
        return data

    # ---- receiving ----

    def recv_frame(self):
        """Reads one server frame as (fin, rsv, opcode, payload). Server frames must not be masked
        and must use the minimal length encoding; anything else fails the test here."""
        while len(self.buf) < 2:
            self._fill()
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise AssertionError("server frame is masked")
        length = b1 & 0x7F
        header = 2
        if length == 126:
            while len(self.buf) < 4:
                self._fill()
            length = struct.unpack(">H", self.buf[2:4])[0]
            header = 4
            if length < 126:
                raise AssertionError("server frame uses a non-minimal 16-bit length")
        elif length == 127:
            while len(self.buf) < 10:
                self._fill()
            length = struct.unpack(">Q", self.buf[2:10])[0]
            header = 10
            if length <= 0xFFFF:
                raise AssertionError("server frame uses a non-minimal 64-bit length")
        while len(self.buf) < header + length:
            self._fill()
        payload = bytes(self.buf[header:header + length])
        del self.buf[:header + length]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload)

    def recv_message(self):
        """Reads one whole server message (control frames are not expected in between) as
        (opcode, rsv of its first frame, payload); a payload sent with RSV1 is inflated first, from an
        empty window, as a server without context takeover compresses each message."""
        first = self.recv_frame()
        parts = [first.payload]
        fin = first.fin
        while not fin:
            frame = self.recv_frame()
            if frame.opcode != OP_CONT or frame.rsv:
                raise AssertionError(f"expected a plain continuation frame, got {frame!r}")
            parts.append(frame.payload)
            fin = frame.fin
        payload = b"".join(parts)
        if first.rsv & 4:
            payload = inflate(payload)
        return first.opcode, first.rsv, payload

    def recv_eof(self, allow_reset=True):
        """Waits for the server to end the TCP connection; fails if it sends anything first or does
        not end it within the socket timeout. allow_reset: a reset counts as an end too (it follows
        when the server closes while our bytes are still arriving, as it may after failing the
        connection); without it only an orderly FIN (recv returns b'') does."""
        if self.buf:
            raise AssertionError(f"expected the connection to end, got bytes {bytes(self.buf[:64])!r}")
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            if allow_reset:
                return
            raise AssertionError("the connection was reset instead of closed (FIN)") from None
        except socket.timeout as e:
            raise AssertionError(f"the connection did not end within {self.sock.gettimeout()} s") from e
        if chunk:
            raise AssertionError(f"expected the connection to end, got bytes {chunk[:64]!r}")


class ConformanceCase(unittest.TestCase):
    """One ringcast per test class, started with FLAGS; connections opened by a test are closed
    after it. Helpers assert exactly what the server sends."""

    FLAGS = ()
    CLOSE_TIMEOUT_MS = CLOSE_TIMEOUT_MS
    THREADS = 2

    @classmethod
    def setUpClass(cls):
        flags = ("--close-timeout-ms", cls.CLOSE_TIMEOUT_MS, *cls.FLAGS)
        cls.server = cls.enterClassContext(harness.Server(*flags, threads=cls.THREADS))

    def connect(self, **kw):
        ws = WSClient(self.server.ws_port, **kw)
        self.addCleanup(ws.close_socket)
        return ws

    # ---- go-push commands ----

    @staticmethod
    def ping_command(total_len=None):
        """A PING command, padded with a string field to exactly total_len bytes when given."""
        if total_len is None:
            return PING_COMMAND
        base = b'{"type":"PING","data":{},"pad":""}'
        assert total_len >= len(base), total_len
        return base[:-2] + b"x" * (total_len - len(base)) + b'"}'

    def expect_frame(self, ws, opcode, payload=None):
        frame = ws.recv_frame()
        self.assertEqual((frame.fin, frame.rsv, frame.opcode), (True, 0, opcode), frame)
        if payload is not None:
            self.assertEqual(frame.payload, payload)
        return frame

    def expect_pong_command(self, ws):
        frame = self.expect_frame(ws, OP_TEXT)
        self.assertEqual(json.loads(frame.payload), PONG_COMMAND)

    def expect_pong(self, ws, payload):
        self.expect_frame(ws, OP_PONG, payload)

    def assert_alive(self, ws):
        """The connection still parses commands: a PING command is answered by a PONG command,
        and it is the next thing the server sends."""
        ws.send_text(PING_COMMAND)
        self.expect_pong_command(ws)

    def join(self, ws, room):
        """JOINs a room and waits until the server has processed it (a PING behind it answered)."""
        ws.send_text(json.dumps({"type": "JOIN", "data": {"room": room}}, ensure_ascii=False).encode())
        self.assert_alive(ws)

    def expect_push(self, ws, items):
        frame = self.expect_frame(ws, OP_TEXT)
        msg = json.loads(frame.payload)
        self.assertEqual(msg["type"], "PUSH")
        self.assertIsInstance(msg["data"].pop("seq"), int)
        msg["data"].pop("room", None)
        self.assertEqual(msg["data"], {"items": items})

    # ---- closes ----

    def expect_close(self, ws, code, reply=True):
        """The next frame is a close with this code (and a valid UTF-8 reason, possibly empty); then
        we answer with a close, as a well-behaved client does, and the server ends the TCP
        connection. Returns the reason."""
        frame = ws.recv_frame()
        self.assertEqual((frame.fin, frame.rsv, frame.opcode), (True, 0, OP_CLOSE), frame)
        self.assertGreaterEqual(len(frame.payload), 2, "close frame without a status code")
        self.assertEqual(frame.close_code, code, frame)
        reason = frame.payload[2:].decode("utf-8")  # raises if the server's reason is not UTF-8
        if reply:
            # If the server already closed the TCP connection the send fails quietly: allowed.
            ws.send_close(code if code not in (1005, 1006, 1015) else 1000)
        ws.recv_eof()
        return reason

    def expect_fail(self, ws, code=1002):
        """The server fails the connection with `code` and nothing else comes before it."""
        return self.expect_close(ws, code)


def random_sizes(seed, low=1, high=64):
    rng = random.Random(seed)
    while True:
        yield rng.randint(low, high)


def main():
    unittest.main(verbosity=2)
