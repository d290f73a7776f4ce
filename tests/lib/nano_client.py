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
