"""A Nano/Pomelo client for the integration tests: tests/lib/pomelo.py's ClientSession (the wire format,
sans I/O) over a websockets connection (binary messages). Heartbeats and pushes are kept as events in
arrival order; helpers wait for the next event of a kind."""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ws_connect  # noqa: E402
import pomelo  # noqa: E402


class NanoClient:
    def __init__(self, ws):
        self.ws = ws
        self.session = pomelo.ClientSession()
        self.events = []  # not yet taken by next()
        self.heartbeats = 0
        self.auto_ack = True  # send the handshake ack (and whatever else the session owes) at once

    @classmethod
    async def connect(cls, url, **kw):
        return cls(await ws_connect(url, **kw))

    async def send(self, data):
        await self.ws.send(bytes(data))

    async def _receive(self, timeout):
        msg = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(msg, bytes), f"a text message from the Pomelo path: {msg!r}"
        events = self.session.feed(msg)
        if self.auto_ack:
            for out in self.session.outgoing:
                await self.ws.send(out)
            self.session.outgoing.clear()
        for e in events:
            if e[0] == "heartbeat":
                self.heartbeats += 1
        self.events.extend(events)

    async def next(self, kind, route=None, msg_id=None, timeout=10.0, keep_heartbeats=False):
        """The first event of `kind` (and route or id), waiting for it; events before it stay."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e[0] == "heartbeat" and kind != "heartbeat" and not keep_heartbeats:
                    continue
                if e[0] != kind:
                    continue
                if route is not None and e[1] != route:
                    continue
                if msg_id is not None and e[1] != msg_id:
                    continue
                del self.events[i]
                return e
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {kind} {route or msg_id or ''} event; have {self.events!r}")
            await self._receive(left)

    async def handshake(self, user=None, client_type="js-websocket", version="0.0.1"):
        """Sends the handshake; returns the server's response (the ack is sent when it is 200)."""
        await self.send(self.session.hello(user, client_type, version))
        return (await self.next("handshake"))[1]

    async def request(self, route, payload, timeout=10.0):
        """Sends a request and returns the response payload, parsed."""
        msg_id, packet = self.session.request(route, json.dumps(payload).encode())
        await self.send(packet)
        return (await self.next("response", msg_id=msg_id, timeout=timeout))[2].json()

    async def notify(self, route, payload):
        await self.send(self.session.notify(route, json.dumps(payload).encode()))

    async def push(self, route, timeout=10.0):
        """The payload of the next push on `route`, parsed."""
        return (await self.next("push", route=route, timeout=timeout))[2].json()

    async def closed(self, timeout=10.0):
        """Reads until the server closes; returns (kick reasons, close code, close reason)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        import websockets
        try:
            while True:
                await self._receive(max(deadline - loop.time(), 0.01))
        except websockets.exceptions.ConnectionClosed:
            pass
        kicks = [e[1] for e in self.events if e[0] == "kick"]
        return kicks, self.ws.close_code, self.ws.close_reason

    async def close(self):
        await self.ws.close()


async def nano_connect(url, user=None):
    """A client past the handshake and its ack."""
    client = await NanoClient.connect(url)
    response = await client.handshake(user)
    assert response["code"] == 200, response
    return client


def cesu8(text):
    """`text` as Pomelo's and Nano's web clients write strings (Protocol.strencode): each UTF-16 code
    unit on its own as 1 to 3 bytes, so a character beyond U+FFFF becomes two 3-byte surrogate halves
    (CESU-8). Lone surrogates in `text` (Python allows them) are written the same way."""
    out = bytearray()
    units = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(units), 2):
        u = int.from_bytes(units[i:i + 2], "big")
        if u < 0x80:
            out.append(u)
        elif u < 0x800:
            out += bytes([0xC0 | u >> 6, 0x80 | u & 0x3F])
        else:
            out += bytes([0xE0 | u >> 12, 0x80 | (u >> 6) & 0x3F, 0x80 | u & 0x3F])
    return bytes(out)


class WebHeartbeatClient:
    """A NanoClient whose heartbeats behave as those of Pomelo's and Nano's web clients: it never sends
    one on its own initiative, only from one timer.
      - A server heartbeat arrives: the client clears its "server is gone" timeout; then, if its send
        timer is pending, it ignores the heartbeat; otherwise it starts the send timer (interval S).
      - The send timer fires: the send timer is no longer pending; the client sends a heartbeat and
        starts the timeout (2 S): if no server heartbeat arrives by then, it gives up on the server.
    So server heartbeats that arrive just before the send timer fires are lost, and an idle client can
    end up beating only every 2 S. run() reads the connection for a while, playing that part."""

    def __init__(self, client):
        self.client = client
        self.interval_s = client.session.heartbeat_s
        self.send_timer = None
        self.timeout_timer = None
        self.sent_at = []          # loop times of the heartbeats it sent
        self.server_beats_at = []  # loop times of the server heartbeats it received
        self.ignored = 0           # server heartbeats that found the send timer pending
        self.gave_up = False       # its own timeout fired: it would have disconnected
        self._sends = []

    def _on_server_heartbeat(self, loop):
        self.server_beats_at.append(loop.time())
        if self.timeout_timer is not None:
            self.timeout_timer.cancel()
            self.timeout_timer = None
        if self.send_timer is not None:
            self.ignored += 1
            return
        self.send_timer = loop.call_later(self.interval_s, self._send_heartbeat, loop)

    def _send_heartbeat(self, loop):
        self.send_timer = None
        self.sent_at.append(loop.time())
        self._sends.append(asyncio.ensure_future(self.client.send(pomelo.HEARTBEAT_PACKET)))
        self.timeout_timer = loop.call_later(2 * self.interval_s, self._give_up)

    def _give_up(self):
        self.timeout_timer = None
        self.gave_up = True

    def _take_heartbeats(self, loop):
        events = self.client.events
        for e in [e for e in events if e[0] == "heartbeat"]:
            events.remove(e)
            self._on_server_heartbeat(loop)

    async def run(self, seconds):
        """Plays the timers for `seconds` (the events other than heartbeats stay in client.events);
        returns early when the connection closes."""
        import websockets
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        self._take_heartbeats(loop)  # one may have come with the handshake
        try:
            while (left := end - loop.time()) > 0:
                try:
                    await self.client._receive(left)
                except asyncio.TimeoutError:
                    break
                self._take_heartbeats(loop)
        except websockets.exceptions.ConnectionClosed:
            pass
        await asyncio.gather(*self._sends, return_exceptions=True)  # a send into a closed connection
        self._sends.clear()

    def stop(self):
        for timer in (self.send_timer, self.timeout_timer):
            if timer is not None:
                timer.cancel()
        self.send_timer = self.timeout_timer = None
