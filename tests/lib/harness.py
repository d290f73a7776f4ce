"""Shared test harness: start a real `ringcast` binary on loopback (ports picked by the kernel) and
talk to it with real clients. Used by the integration and conformance suites (run with Debian's
/usr/bin/python3, which has python3-websockets 10.4: asyncio only).

What it gives:
- Server: the process, its ports, the push API (urllib, one connection per call), /stats polling.
  On exit it stops the server with SIGTERM and fails the test when the server did not exit 0 or its
  log holds a sanitizer report, so a memory error found by an ASan build fails the test that hit it.
- run_ringcast(): runs the binary to completion (configuration errors, --help).
- HttpConn: a raw keep-alive HTTP/1.1 connection (pipelining, 100-continue, garbage).
- RawWs: a raw WebSocket client over a socket (masked frames built by hand, frames read one by one).
- async helpers over websockets: ws_connect, recv_json, join (JOIN acknowledged by a PING barrier).
"""

import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

RINGCAST_BIN = os.environ.get("RINGCAST_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "ringcast")

_SERVING = re.compile(
    r"serving: clients (?:(wss?)://[^:]*:(\d+)\S*|none \(API only\)), push API (https?)://[^:]*:(\d+)")

# Lines that mean a sanitizer (or the engine's own assertion) caught something.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ringcast: assertion failed")

PING = json.dumps({"type": "PING", "data": {}})
PONG = {"type": "PONG", "data": {}}


def command(type_, **data):
    return json.dumps({"type": type_, "data": data})


class ServerFailure(AssertionError):
    pass


class Server:
    """A ringcast process. `args` are extra flags. Use as a context manager; on exit the process is
    stopped with SIGTERM (then SIGKILL) and its log is printed if the test failed. A server that does
    not exit with 0, or whose log holds a sanitizer report, fails the test (ServerFailure)."""

    def __init__(self, *args, threads=2, env=None, ready_timeout=20.0, listen=True, ca_file=None):
        """`ca_file`: the CA the harness's own push API calls trust when the API speaks TLS."""
        self.args = [RINGCAST_BIN, "--api", "127.0.0.1:0", "--threads", str(threads),
                     *[str(a) for a in args]]
        if listen:
            self.args[1:1] = ["--listen", "127.0.0.1:0"]
        self.env = env
        self.ready_timeout = ready_timeout
        self.proc = None
        self.log_lines = []
        self.ws_port = None
        self.api_port = None
        self.returncode = None
        self.ws_scheme, self.api_scheme = "ws", "http"
        self.ca_file = ca_file
        self._ready = threading.Event()
        self._reader = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        problem = self.problem()
        if exc_type is not None or problem:
            sys.stderr.write("---- ringcast log (%s) ----\n%s----\n" % (" ".join(self.args), self.log()))
        if problem and exc_type is None:
            raise ServerFailure(problem)
        return False

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=self.env, text=True, bufsize=1, errors="replace")
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.ready_timeout):
            self.stop()
            raise RuntimeError("ringcast did not start:\n" + self.log())

    def _read_log(self):
        for line in self.proc.stdout:
            self.log_lines.append(line)
            m = _SERVING.search(line)
            if m and not self._ready.is_set():
                self.ws_scheme = m.group(1) or "ws"
                self.ws_port, self.api_scheme, self.api_port = int(m.group(2) or 0), m.group(3), int(m.group(4))
                self._ready.set()

    def log(self):
        return "".join(self.log_lines)

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        """Waits for the process to exit (after a signal); returns its exit code."""
        self.returncode = self.proc.wait(timeout)
        if self._reader:
            self._reader.join(5.0)
        return self.returncode

    def stop(self, timeout=30.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log_lines.append("[harness] ringcast did not exit within %.0f s of SIGTERM: killed\n"
                                      % timeout)
        if self._reader:
            self._reader.join(5.0)
        if self.proc.stdout and not self._reader.is_alive():
            self.proc.stdout.close()
        self.returncode = self.proc.returncode
        return self.returncode

    def problem(self):
        """Why this run counts as a failure regardless of the test's own checks, or None."""
        log = self.log()
        for mark in SANITIZER_MARKS:
            if mark in log:
                return "ringcast log holds %r" % mark
        if self.returncode is not None and self.returncode != 0:
            if self.returncode < 0:
                return "ringcast killed by signal %d" % -self.returncode
            return "ringcast exited with %d" % self.returncode
        return None

    @property
    def ws_url(self):
        return f"{self.ws_scheme}://127.0.0.1:{self.ws_port}/connect"

    @property
    def api_url(self):
        return f"{self.api_scheme}://127.0.0.1:{self.api_port}"

    def api(self, method, path, body=None, headers=None, timeout=30.0):
        """One HTTP request to the push API. Returns (status, parsed JSON or text)."""
        status, _, body = self.api_full(method, path, body, headers, timeout)
        return status, body

    def api_full(self, method, path, body=None, headers=None, timeout=30.0):
        """Like api(), also returning the response headers."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers or {})
        context = None
        if self.api_scheme == "https":
            import ssl
            context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        text = raw.decode()
        ctype = hdrs.get("Content-Type", "")
        return status, hdrs, (json.loads(text) if "json" in ctype and text else text)

    def push_room(self, room, items):
        return self.api("POST", "/push/room", urllib.parse.urlencode({"room": room, "items": json.dumps(items)}),
                        {"Content-Type": "application/x-www-form-urlencoded"})

    def push_all(self, items):
        return self.api("POST", "/push/all", urllib.parse.urlencode({"items": json.dumps(items)}),
                        {"Content-Type": "application/x-www-form-urlencoded"})

    def stats(self):
        status, body = self.api("GET", "/stats")
        assert status == 200, body
        return body

    def wait_stat(self, name, predicate, timeout=15.0):
        """Polls /stats until predicate(value) holds; returns the value (raises on timeout)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.stats()[name]
            if predicate(value):
                return value
            time.sleep(0.02)
        raise AssertionError(f"stat {name} stuck at {value!r}")

    # asyncio variants: the blocking HTTP calls run in a worker thread so the event loop (and the
    # WebSocket clients on it) keep going.
    async def apush_room(self, room, items):
        return await asyncio.to_thread(self.push_room, room, items)

    async def apush_all(self, items):
        return await asyncio.to_thread(self.push_all, items)

    async def astats(self):
        return await asyncio.to_thread(self.stats)

    async def await_stat(self, name, predicate, timeout=15.0):
        return await asyncio.to_thread(self.wait_stat, name, predicate, timeout)


class ExampleProgram:
    """An example program (examples/, built by meson) under test: started with its output captured,
    its first line (the one naming its URLs) read, then SIGTERM; finish() returns the whole output
    once it exited 0 without a sanitizer report, and the output is printed if the test fails.

        async with ExampleProgram("RINGCAST_CHAT_BIN", "chat") as program:
            url = program.first_line ...
            text = await program.finish()
    """

    def __init__(self, env_var, name):
        self.path = os.environ.get(env_var) or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "examples", name)
        self.name = name
        self.log = []
        self.proc = None
        self.first_line = ""

    async def __aenter__(self):
        self.proc = subprocess.Popen([self.path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1)
        self.first_line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 20)
        self.log.append(self.first_line)
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)

    async def finish(self):
        """After stop(): the rest of the output; asserts exit 0 and no sanitizer report."""
        self.log.append(await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.read), 20))
        text = "".join(self.log)
        code = await asyncio.to_thread(self.proc.wait, 20)
        assert code == 0, f"{self.name} exited {code}"
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"{self.name}: {mark}"
        return text

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is not None:
            sys.stderr.write(f"---- {self.name} output ----\n" + "".join(self.log))
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False


def children(pid):
    """The child processes of `pid` (a --workers supervisor: its workers, and the NATS bridge)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def run_ringcast(*args, timeout=20.0, env=None):
    """Runs ringcast to completion (for flags and files it must refuse). Returns CompletedProcess with
    stdout and stderr as text. A sanitizer report in the output raises ServerFailure."""
    p = subprocess.run([RINGCAST_BIN, *[str(a) for a in args]], capture_output=True, text=True,
                       timeout=timeout, env=env, errors="replace")
    for mark in SANITIZER_MARKS:
        if mark in p.stdout or mark in p.stderr:
            raise ServerFailure("ringcast output holds %r:\n%s%s" % (mark, p.stdout, p.stderr))
    return p


def raw_connect(port, host="127.0.0.1", timeout=10.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# ---- raw HTTP ----

class HttpResponse:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"HttpResponse({self.status} {self.reason}, {self.headers}, {self.body[:200]!r})"


class HttpConn:
    """A raw HTTP/1.1 connection: write any bytes, read responses one at a time (Content-Length
    framed, as ringcast answers)."""

    def __init__(self, port, timeout=10.0):
        self.sock = raw_connect(port, timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def read_response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length].decode(), self.buf[length:]
        return HttpResponse(int(status), reason, headers, body)

    def read_until_closed(self, timeout=10.0, allow_reset=False):
        """Reads until the server closes; returns what came. Raises on timeout (server kept it open),
        and on a reset unless allow_reset (a server that answers and lingers closes with a FIN)."""
        self.sock.settimeout(timeout)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                if not allow_reset:
                    raise
                chunk = b""
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk


def http_request(method, path, body=b"", headers=None, host="127.0.0.1"):
    """The bytes of one HTTP/1.1 request with a Content-Length body."""
    body = body.encode() if isinstance(body, str) else body
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def form(**fields):
    return urllib.parse.urlencode({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()})


# ---- raw WebSocket ----

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample nonce


def upgrade_request(path="/connect", host="127.0.0.1", key=WS_KEY, version="13", method="GET", extra=None,
                    omit=()):
    headers = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
               "Sec-WebSocket-Version": version}
    headers.update(extra or {})
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if k not in omit]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def client_frame(opcode, payload=b"", fin=True, mask=b"\x37\xfa\x21\x3d"):
    payload = payload.encode() if isinstance(payload, str) else payload
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class RawWs:
    """A WebSocket client on a raw socket, for what websockets will not do (stall, send garbage,
    never read, close the TCP connection without a close frame)."""

    def __init__(self, port, timeout=10.0, rcvbuf=None, handshake=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        if handshake:
            self.sock.sendall(upgrade_request())
            status = self.read_http_head()
            if not status.startswith("HTTP/1.1 101"):
                raise AssertionError("upgrade refused: " + status)

    def close(self):
        self.sock.close()

    def abort(self):
        """Closes the TCP connection with a reset, no close frame."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def read_http_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head.decode("latin-1")

    def send(self, opcode, payload=b"", fin=True):
        self.sock.sendall(client_frame(opcode, payload, fin))

    def send_text(self, text):
        self.send(OP_TEXT, text)

    def recv_frame(self):
        """(fin, opcode, payload bytes) of the next frame from the server."""
        while len(self.buf) < 2:
            self._fill()
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise AssertionError("server frame is masked")
        n, at = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill()
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        while len(self.buf) < at + n:
            self._fill()
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_json(self):
        """The next text message as JSON (skipping pongs to our control pings)."""
        while True:
            fin, op, payload = self.recv_frame()
            if op == OP_TEXT:
                assert fin, "ringcast fragments no message"
                return json.loads(payload)
            if op == OP_CLOSE:
                raise AssertionError("closed: %r" % (close_payload(payload),))

    def recv_close(self):
        """Reads until a close frame; returns (code, reason)."""
        while True:
            _, op, payload = self.recv_frame()
            if op == OP_CLOSE:
                return close_payload(payload)


def close_payload(payload):
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


# ---- websockets (asyncio) helpers ----

def _websockets():
    import websockets  # noqa: PLC0415  (Debian's python3-websockets; absent from other pythons)
    return websockets


async def ws_connect(url, **kw):
    """A websockets client with its automatic keep-alive pings off (they would hide heartbeat
    behaviour) and no size limit on received messages."""
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    kw.setdefault("open_timeout", 20)
    kw.setdefault("close_timeout", 10)
    return await _websockets().connect(url, **kw)


async def recv_json(ws, timeout=15.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def ping(ws, timeout=15.0):
    """Sends a go-push PING and waits for its PONG; fails on anything else. Commands are handled in
    order, so the PONG also proves every command sent before it was handled."""
    await ws.send(PING)
    msg = await recv_json(ws, timeout)
    assert msg == PONG, msg


async def join(ws, *rooms):
    for room in rooms:
        await ws.send(command("JOIN", room=room))
    await ping(ws)


def push_items(msg):
    """The items of a PUSH frame (which also carries "seq", and "room" for a room push); fails on
    anything else."""
    assert msg.get("type") == "PUSH", msg
    data = msg["data"]
    assert isinstance(data.get("seq"), int) and data["seq"] > 0, msg
    assert set(data) <= {"items", "seq", "room"}, msg
    return data["items"]


async def collect_items(ws, count, timeout=30.0):
    """Receives PUSH frames until `count` items arrived; returns (items, frames)."""
    items, frames = [], 0
    deadline = asyncio.get_running_loop().time() + timeout
    while len(items) < count:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"got {len(items)} of {count} items")
        msg = await recv_json(ws, left)
        assert msg["type"] == "PUSH", msg
        frames += 1
        items.extend(msg["data"]["items"])
    return items, frames

