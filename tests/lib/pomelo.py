"""Nano/Pomelo wire format for the tests: a client's side of the protocol lonng/nano speaks, written
from the format description in docs/nano.md (independently of engine/codec/pomelo.cpp, so the two check each
other). Standard library only; no I/O: bytes in, values out. Integration tests send what this builds as
binary WebSocket messages (python3-websockets) and feed it what they receive.

What it gives:
- Packets: encode_packet(), decode_packets() (several per buffer, remainder of a split one kept),
  HEARTBEAT_PACKET, HANDSHAKE_ACK_PACKET, handshake_body(), kick_reason().
- Messages: encode_message(), decode_message() with base-128 ids and routes compressed through a
  RouteDict (built from a route list, explicit codes, or the "dict" of a handshake response).
- ClientSession: the client's bookkeeping (request ids, the dictionary learnt from the handshake, the
  ack it owes), sans I/O.

Errors are PomeloError (a ValueError). Run this file to self-test: /usr/bin/python3 tests/lib/pomelo.py
"""

import json

# Packet types.
HANDSHAKE = 1
HANDSHAKE_ACK = 2
HEARTBEAT = 3
DATA = 4
KICK = 5
PACKET_TYPES = (HANDSHAKE, HANDSHAKE_ACK, HEARTBEAT, DATA, KICK)

# Message types.
REQUEST = 0
NOTIFY = 1
RESPONSE = 2
PUSH = 3
MESSAGE_TYPES = (REQUEST, NOTIFY, RESPONSE, PUSH)

PACKET_HEADER_BYTES = 4
PACKET_BODY_BYTES_LIMIT = 0xFFFFFF  # what a 24-bit length can say
VARINT_BYTES_MAX = 5  # a uint32 in 7-bit groups
ROUTE_BYTES_MAX = 255  # an uncompressed route has a one-byte length
ROUTE_CODE_MAX = 0xFFFF

HEARTBEAT_PACKET = bytes([HEARTBEAT, 0, 0, 0])
HANDSHAKE_ACK_PACKET = bytes([HANDSHAKE_ACK, 0, 0, 0])

# Handshake response codes.
CODE_OK = 200
CODE_BAD_HANDSHAKE = 500
CODE_UNSUPPORTED_VERSION = 501

_FLAG_COMPRESSED = 0x01
_FLAG_RESERVED = 0xF0


class PomeloError(ValueError):
    pass


def _json_bytes(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---- Packets ----


def encode_packet(packet_type, body=b""):
    """Header (type, 3-byte big-endian length) + body."""
    if packet_type not in PACKET_TYPES:
        raise PomeloError(f"unknown packet type {packet_type}")
    body = bytes(body)
    if len(body) > PACKET_BODY_BYTES_LIMIT:
        raise PomeloError(f"packet body of {len(body)} bytes does not fit a 24-bit length")
    return bytes([packet_type]) + len(body).to_bytes(3, "big") + body


def decode_packets(data, body_bytes_max=PACKET_BODY_BYTES_LIMIT):
    """Every complete packet of data, back to back: ([(type, body), ...], remainder). The remainder is
    the start of a packet not complete yet (b"" when everything was whole). A bad header raises."""
    data = bytes(data)
    packets = []
    pos = 0
    while pos < len(data):
        packet_type = data[pos]
        if packet_type not in PACKET_TYPES:
            raise PomeloError(f"unknown packet type {packet_type} at byte {pos}")
        if len(data) - pos < PACKET_HEADER_BYTES:
            break
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if length > body_bytes_max:
            raise PomeloError(f"packet body of {length} bytes over the maximum {body_bytes_max}")
        end = pos + PACKET_HEADER_BYTES + length
        if end > len(data):
            break
        packets.append((packet_type, data[pos + PACKET_HEADER_BYTES : end]))
        pos = end
    return packets, data[pos:]


# ---- Varint message ids ----


def encode_varint(value):
    """Little-endian groups of 7 bits, 0x80 on every byte but the last."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise PomeloError(f"message id {value} is not a uint32")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data, pos=0):
    """(value, position after it). Raises on a truncated varint, one longer than 5 bytes, or a value
    over 2^32 - 1. Non-minimal encodings within 5 bytes are accepted."""
    value = 0
    for i in range(VARINT_BYTES_MAX):
        if pos + i >= len(data):
            raise PomeloError("message truncated in its id")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte & 0x80 == 0:
            if value > 0xFFFFFFFF:
                raise PomeloError("message id over 2^32 - 1")
            return value, pos + i + 1
    raise PomeloError("message id varint longer than 5 bytes")


# ---- Route dictionary ----


class RouteDict:
    """Routes sent as two-byte codes. RouteDict(["a", "b"]) numbers them 1..N in order;
    RouteDict(codes={"a": 7}) takes explicit codes, as a handshake response's "dict" gives them."""

    def __init__(self, routes=(), codes=None):
        pairs = list(codes.items()) if codes is not None else [(r, i + 1) for i, r in enumerate(routes)]
        self._code_of = {}
        self._route_of = {}
        for route, code in pairs:
            if not isinstance(route, str) or not 1 <= len(route.encode("utf-8")) <= ROUTE_BYTES_MAX:
                raise PomeloError(f"route {route!r} must be 1..255 bytes of UTF-8")
            if not isinstance(code, int) or not 1 <= code <= ROUTE_CODE_MAX:
                raise PomeloError(f"route code {code!r} must be 1..65535")
            if route in self._code_of:
                raise PomeloError(f"route {route!r} listed twice")
            if code in self._route_of:
                raise PomeloError(f"route code {code} listed twice")
            self._code_of[route] = code
            self._route_of[code] = route

    @classmethod
    def from_handshake(cls, response):
        """From a parsed handshake response ({"code":200,"sys":{"dict":{...}}}); empty without one."""
        return cls(codes=(response.get("sys") or {}).get("dict") or {})

    def code_of(self, route):
        return self._code_of.get(route, 0)

    def route_of(self, code):
        return self._route_of.get(code)

    def __len__(self):
        return len(self._code_of)

    def to_json(self):
        """The handshake's "dict" object, in code order."""
        return json.dumps(dict(sorted(self._code_of.items(), key=lambda item: item[1])), separators=(",", ":"),
                          ensure_ascii=False)


_EMPTY_DICT = RouteDict()


# ---- Messages ----


class Message:
    __slots__ = ("type", "id", "route", "payload", "route_compressed")

    def __init__(self, msg_type, msg_id=0, route="", payload=b"", route_compressed=False):
        self.type = msg_type
        self.id = msg_id
        self.route = route
        self.payload = payload
        self.route_compressed = route_compressed

    def json(self):
        return json.loads(self.payload)

    def __eq__(self, other):
        return isinstance(other, Message) and (self.type, self.id, self.route, self.payload) == (
            other.type, other.id, other.route, other.payload)

    def __repr__(self):
        return (f"Message(type={self.type}, id={self.id}, route={self.route!r}, payload={self.payload!r}, "
                f"compressed={self.route_compressed})")


def _has_id(msg_type):
    return msg_type in (REQUEST, RESPONSE)


def _has_route(msg_type):
    return msg_type != RESPONSE


def encode_message(msg_type, msg_id=0, route="", payload=b"", route_dict=None):
    """Flag byte, id (request, response), route (request, notify, push: its code when route_dict has it,
    else length + UTF-8 bytes), payload (bytes, or any other value as compact JSON). A route over 255
    bytes is refused, never truncated; so is an empty route on a request."""
    if msg_type not in MESSAGE_TYPES:
        raise PomeloError(f"unknown message type {msg_type}")
    if not isinstance(payload, (bytes, bytearray)):
        payload = _json_bytes(payload)
    route_dict = route_dict or _EMPTY_DICT
    code = route_dict.code_of(route) if _has_route(msg_type) and route else 0
    out = bytearray([(msg_type << 1) | (_FLAG_COMPRESSED if code else 0)])
    if _has_id(msg_type):
        out += encode_varint(msg_id)
    if _has_route(msg_type):
        if code:
            out += code.to_bytes(2, "big")
        else:
            raw = route.encode("utf-8")
            if len(raw) > ROUTE_BYTES_MAX:
                raise PomeloError(f"route of {len(raw)} bytes is over {ROUTE_BYTES_MAX}")
            if not raw and msg_type == REQUEST:
                raise PomeloError("a request needs a route")
            out.append(len(raw))
            out += raw
    return bytes(out + payload)


def decode_message(body, route_dict=None):
    """A data packet body as a Message. Raises on reserved flag bits (4-7, or bit 0 on a response),
    unknown types, bad or truncated ids, truncated routes, unknown route codes, routes not UTF-8 and
    requests without a route."""
    body = bytes(body)
    route_dict = route_dict or _EMPTY_DICT
    if not body:
        raise PomeloError("message truncated in its flag")
    flag = body[0]
    if flag & _FLAG_RESERVED:
        raise PomeloError(f"reserved flag bits in 0x{flag:02x}")
    msg_type = (flag >> 1) & 0x07
    if msg_type not in MESSAGE_TYPES:
        raise PomeloError(f"unknown message type {msg_type}")
    compressed = bool(flag & _FLAG_COMPRESSED)
    if compressed and not _has_route(msg_type):
        raise PomeloError("compressed-route bit on a response")
    pos = 1
    msg_id = 0
    if _has_id(msg_type):
        msg_id, pos = decode_varint(body, pos)
    route = ""
    if _has_route(msg_type):
        if compressed:
            if len(body) - pos < 2:
                raise PomeloError("message truncated in its route code")
            code = int.from_bytes(body[pos : pos + 2], "big")
            pos += 2
            route = route_dict.route_of(code)
            if route is None:
                raise PomeloError(f"unknown route code {code}")
        else:
            if len(body) - pos < 1:
                raise PomeloError("message truncated in its route length")
            length = body[pos]
            pos += 1
            if len(body) - pos < length:
                raise PomeloError("message truncated in its route")
            try:
                route = body[pos : pos + length].decode("utf-8")
            except UnicodeDecodeError:
                raise PomeloError("route is not UTF-8") from None
            pos += length
            if not route and msg_type == REQUEST:
                raise PomeloError("a request needs a route")
    return Message(msg_type, msg_id, route, body[pos:], compressed)


def encode_data_packet(msg_type, msg_id=0, route="", payload=b"", route_dict=None):
    return encode_packet(DATA, encode_message(msg_type, msg_id, route, payload, route_dict))


# ---- Handshake and kick ----


def handshake_body(user=None, client_type="js-websocket", version="0.0.1"):
    """{"sys":{"type":...,"version":...,"rsa":{}},"user":{...}} as a Pomelo JS client sends it."""
    sys_part = {"rsa": {}}
    if client_type is not None:
        sys_part["type"] = client_type
    if version is not None:
        sys_part["version"] = version
    return _json_bytes({"sys": sys_part, "user": user if user is not None else {}})


def parse_handshake_response(body):
    """The server's handshake body as a dict; raises unless it is a JSON object with a "code"."""
    try:
        response = json.loads(body)
    except ValueError:
        raise PomeloError(f"handshake response is not JSON: {body!r}") from None
    if not isinstance(response, dict) or not isinstance(response.get("code"), int):
        raise PomeloError(f"handshake response without a code: {body!r}")
    return response


def kick_body(reason):
    return _json_bytes({"reason": reason})


def kick_reason(body):
    """The reason of a kick packet body ({"reason":"..."}), or the raw text when it is not that."""
    try:
        return json.loads(body)["reason"]
    except (ValueError, KeyError, TypeError):
        return bytes(body).decode("utf-8", "replace")


# ---- Client session (sans I/O) ----


class ClientSession:
    """A Pomelo client's state without the socket: hello() gives the first message to send; feed()
    takes each binary message received and returns events, and queues in `outgoing` what the client
    owes (the handshake ack). Events are tuples:
      ("handshake", response_dict)   the dictionary it carries is now used both ways
      ("response", id, Message)      ("push", route, Message)
      ("heartbeat",)                 ("kick", reason)
    """

    def __init__(self, body_bytes_max=PACKET_BODY_BYTES_LIMIT):
        self.route_dict = RouteDict()
        self.heartbeat_s = None
        self.outgoing = []
        self.pending = {}  # request id -> route
        self._next_id = 1
        self._body_bytes_max = body_bytes_max
        self._partial = b""

    def hello(self, user=None, client_type="js-websocket", version="0.0.1"):
        return encode_packet(HANDSHAKE, handshake_body(user, client_type, version))

    def request(self, route, payload):
        """(id, bytes to send); ids count from 1 as Pomelo clients do."""
        msg_id = self._next_id
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFFFFFF else 1
        packet = encode_data_packet(REQUEST, msg_id, route, payload, self.route_dict)
        self.pending[msg_id] = route
        return msg_id, packet

    def notify(self, route, payload):
        return encode_data_packet(NOTIFY, 0, route, payload, self.route_dict)

    def feed(self, data):
        packets, self._partial = decode_packets(self._partial + bytes(data), self._body_bytes_max)
        events = []
        for packet_type, body in packets:
            if packet_type == HANDSHAKE:
                response = parse_handshake_response(body)
                if response["code"] == CODE_OK:
                    self.route_dict = RouteDict.from_handshake(response)
                    self.heartbeat_s = (response.get("sys") or {}).get("heartbeat")
                    self.outgoing.append(HANDSHAKE_ACK_PACKET)
                events.append(("handshake", response))
            elif packet_type == HEARTBEAT:
                events.append(("heartbeat",))
            elif packet_type == KICK:
                events.append(("kick", kick_reason(body)))
            elif packet_type == DATA:
                msg = decode_message(body, self.route_dict)
                if msg.type == RESPONSE:
                    self.pending.pop(msg.id, None)
                    events.append(("response", msg.id, msg))
                elif msg.type == PUSH:
                    events.append(("push", msg.route, msg))
                else:
                    raise PomeloError(f"a server sent message type {msg.type}")
            else:
                raise PomeloError(f"a server sent packet type {packet_type}")
        return events


# ---- Self-test: the literal vectors of tests/unit/pomelo_test.cpp, and round trips ----


def _self_test():
    def expect_error(fn, *args):
        try:
            fn(*args)
        except PomeloError:
            return
        raise AssertionError(f"{fn.__name__}{args!r} did not raise")

    chat = RouteDict(["room.join", "room.message", "onMembers", "onNewUser", "onMessage"])
    assert chat.to_json() == '{"room.join":1,"room.message":2,"onMembers":3,"onNewUser":4,"onMessage":5}'
    assert chat.code_of("onMessage") == 5 and chat.route_of(5) == "onMessage" and chat.code_of("x") == 0
    for bad in (["a", "a"], [""], ["r" * 256]):
        expect_error(RouteDict, bad)
    expect_error(RouteDict, (), {"a": 1, "b": 1})
    expect_error(RouteDict, (), {"a": 0})
    explicit = RouteDict(codes={"b": 10, "a": 3, "c": 0xFFFF})
    assert explicit.to_json() == '{"a":3,"b":10,"c":65535}'

    # Packets.
    assert encode_packet(HANDSHAKE, b"{}") == b"\x01\x00\x00\x02{}"
    assert encode_packet(HEARTBEAT) == HEARTBEAT_PACKET == b"\x03\x00\x00\x00"
    assert encode_packet(KICK, b'{"reason":"bye"}') == b'\x05\x00\x00\x10{"reason":"bye"}'
    stream = (b"\x02\x00\x00\x00" + b"\x03\x00\x00\x00" + b"\x04\x00\x00\x05hello" + b"\x05\x00\x00\x02{}")
    ends = [4, 8, 17, 23]
    whole = [(HANDSHAKE_ACK, b""), (HEARTBEAT, b""), (DATA, b"hello"), (KICK, b"{}")]
    assert decode_packets(stream) == (whole, b"")
    for cut in range(len(stream) + 1):
        packets, rest = decode_packets(stream[:cut])
        done = [e for e in ends if e <= cut]
        assert len(packets) == len(done) and rest == stream[(done[-1] if done else 0) : cut], cut
        more, rest = decode_packets(rest + stream[cut:])
        assert packets + more == whole and rest == b"", cut
    for bad_type in (0, 6, 0xFF):
        expect_error(decode_packets, bytes([bad_type]))
    expect_error(decode_packets, b"\x04\xff\xff\xff", PACKET_BODY_BYTES_LIMIT - 1)
    assert decode_packets(b"\x04\xff\xff\xff") == ([], b"\x04\xff\xff\xff")

    # Varints.
    vectors = [
        (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"), (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"), (2**21 - 1, b"\xff\xff\x7f"), (2**21, b"\x80\x80\x80\x01"),
        (2**28, b"\x80\x80\x80\x80\x01"), (2**32 - 1, b"\xff\xff\xff\xff\x0f"),
    ]
    for value, wire in vectors:
        assert encode_varint(value) == wire, value
        assert decode_varint(wire + b"\x7f") == (value, len(wire)), value
    for bad in (b"\x80\x80\x80\x80\x80\x00", b"\x80\x80\x80\x80\x10", b"\xff\xff\xff\xff\x8f", b"", b"\x80",
                b"\xff\xff"):
        expect_error(decode_varint, bad)
    assert decode_varint(b"\x80\x00") == (0, 2)
    expect_error(encode_varint, 2**32)

    # Messages, one literal vector per type and route form.
    literal = [
        (b"\x00\x01\x09room.join" + b'{"room":"lobby"}', None, Message(REQUEST, 1, "room.join", b'{"room":"lobby"}')),
        (b"\x01\x02\x00\x01" + b'{"room":"lobby"}', chat, Message(REQUEST, 2, "room.join", b'{"room":"lobby"}')),
        (b"\x00\x80\x01\x01rp", None, Message(REQUEST, 128, "r", b"p")),
        (b"\x00\xff\xff\xff\xff\x0f\x01r", None, Message(REQUEST, 2**32 - 1, "r", b"")),
        (b"\x02\x0croom.message" + b'{"text":"hi"}', None, Message(NOTIFY, 0, "room.message", b'{"text":"hi"}')),
        (b"\x03\x00\x02" + b'{"text":"hi"}', chat, Message(NOTIFY, 0, "room.message", b'{"text":"hi"}')),
        (b"\x04\xac\x02" + b'{"code":0}', chat, Message(RESPONSE, 300, "", b'{"code":0}')),
        (b"\x06\x09onMessage" + b'{"from":"ann"}', None, Message(PUSH, 0, "onMessage", b'{"from":"ann"}')),
        (b"\x07\x00\x05" + b'{"from":"ann"}', chat, Message(PUSH, 0, "onMessage", b'{"from":"ann"}')),
        (b"\x07\x12\x34x", RouteDict(codes={"far": 0x1234}), Message(PUSH, 0, "far", b"x")),
        (b"\x02\x00{}", None, Message(NOTIFY, 0, "", b"{}")),
        (b"\x06\xff" + b"a" * 255 + b"{}", None, Message(PUSH, 0, "a" * 255, b"{}")),
    ]
    for wire, route_dict, msg in literal:
        assert encode_message(msg.type, msg.id, msg.route, msg.payload, route_dict) == wire, wire
        decoded = decode_message(wire, route_dict)
        assert decoded == msg, (decoded, msg)
        assert decoded.route_compressed == bool(wire[0] & 1)
    assert encode_data_packet(PUSH, 0, "onMessage", b'{"a":1}') == b"\x04\x00\x00\x12\x06\x09onMessage" + b'{"a":1}'
    assert encode_message(NOTIFY, 77, "room.message", {"text": "hi"}, chat) == b'\x03\x00\x02{"text":"hi"}'
    assert encode_message(RESPONSE, 300, "room.join", b'{"code":0}', chat) == b'\x04\xac\x02{"code":0}'
    expect_error(encode_message, PUSH, 0, "a" * 256, b"")
    expect_error(encode_message, REQUEST, 1, "", b"")
    bad_bodies = [
        b"", b"\x00", b"\x00\x80", b"\x00\x01", b"\x00\x01\x05ro", b"\x01\x01\x00", b"\x04", b"\x06\x09onMessag",
        b"\x08\x01\x01r", b"\x0e\x01\x01r", b"\x10\x01\x01r", b"\x20\x01\x01r", b"\x80\x01\x01r", b"\x05\x01{}",
        b"\x00\x80\x80\x80\x80\x80\x00\x01r", b"\x04\xff\xff\xff\xff\x10", b"\x00\x01\x00{}", b"\x02\x02\xc3\x28",
    ]
    for body in bad_bodies:
        expect_error(decode_message, body, chat)
    expect_error(decode_message, b"\x01\x01\x00\x06", chat)
    expect_error(decode_message, b"\x03\x00\x01", None)

    # Round trips through packets, with and without the dictionary.
    messages = [
        Message(REQUEST, 0, "room.join", b'{"room":"a"}'), Message(REQUEST, 16384, "other.route", b"{}"),
        Message(NOTIFY, 0, "room.message", '{"t":"é"}'.encode()), Message(RESPONSE, 1, "", b'{"code":200}'),
        Message(PUSH, 0, "onMembers", b'{"members":["a"]}'), Message(PUSH, 0, "你好", b"\x01\x02"),
    ]
    for route_dict in (None, chat):
        for msg in messages:
            packet = encode_data_packet(msg.type, msg.id, msg.route, msg.payload, route_dict)
            (packet_type, body), = decode_packets(packet)[0]
            assert packet_type == DATA
            back = decode_message(body, route_dict)
            assert back == msg and back.route_compressed == bool(route_dict and route_dict.code_of(msg.route))

    # Handshake and kick bodies, and a session against server bytes built here.
    assert handshake_body({"name": "ann"}) == (
        b'{"sys":{"rsa":{},"type":"js-websocket","version":"0.0.1"},"user":{"name":"ann"}}')
    assert kick_body('a"b') == b'{"reason":"a\\"b"}' and kick_reason(kick_body("bye")) == "bye"
    session = ClientSession()
    assert session.hello()[:1] == b"\x01"
    response = b'{"code":200,"sys":{"heartbeat":30,"servertime":1700000000,"dict":{"room.join":1,"onMessage":5}}}'
    events = session.feed(encode_packet(HANDSHAKE, response) + HEARTBEAT_PACKET)
    assert events[0][0] == "handshake" and events[1] == ("heartbeat",)
    assert session.outgoing == [HANDSHAKE_ACK_PACKET] and session.heartbeat_s == 30
    msg_id, packet = session.request("room.join", {"room": "lobby"})
    assert msg_id == 1 and packet == b'\x04\x00\x00\x14\x01\x01\x00\x01{"room":"lobby"}'
    push = encode_data_packet(PUSH, 0, "onMessage", b'{"content":"hi"}', session.route_dict)
    reply = encode_data_packet(RESPONSE, 1, "", b'{"code":0}')
    events = session.feed(reply + push[:5])  # a packet split across two messages
    assert events == [("response", 1, Message(RESPONSE, 1, "", b'{"code":0}'))] and not session.pending
    events = session.feed(push[5:] + encode_packet(KICK, kick_body("bye")))
    assert events[0] == ("push", "onMessage", Message(PUSH, 0, "onMessage", b'{"content":"hi"}'))
    assert events[0][2].route_compressed and events[1] == ("kick", "bye")
    print("pomelo.py: self-test passed")


if __name__ == "__main__":
    _self_test()
