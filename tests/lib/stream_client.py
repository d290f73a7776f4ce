"""Clients of ringcast's one-way HTTP transports, on the python standard library only: http.client
reads the chunked body (as any HTTP/1.1 client would), and the SSE fields are read the way the
EventSource algorithm reads them (WHATWG HTML 9.2.6): `id`, `event`, `data` lines, comments, a blank
line ends an event. Blocking: an asyncio test runs them in threads (asyncio.to_thread)."""

import http.client
import json
import socket
import time


class StreamError(AssertionError):
    pass


class _Base:
    def __init__(self, port, path, headers=None, timeout=20.0, host="127.0.0.1"):
        self.timeout = timeout  # the longest a next_event/next_message waits, heartbeats included
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.ended = False  # the server ended the stream with its last chunk

    def error_body(self):
        """A refused subscription's JSON body."""
        return json.loads(self.resp.read().decode())

    def _line(self):
        try:
            line = self.resp.readline()
        except http.client.IncompleteRead as e:
            raise StreamError("stream cut inside a chunk: %r" % e) from e
        if line == b"":
            self.ended = True
            return None
        return line.decode("utf-8")

    def _waited_too_long(self, start):
        """Heartbeats keep the socket busy: a wait for an event that never comes ends here."""
        if time.monotonic() - start > self.timeout:
            raise StreamError("nothing but heartbeats for %.0f s" % self.timeout)

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class SseClient(_Base):
    """GET /sse?... ; next_event() returns {"id", "event", "data"} (data parsed as JSON) or None at
    the end of the stream. `last_event_id` follows the EventSource rules (an event without `id` keeps
    it); `comments` counts the comment lines (heartbeats)."""

    def __init__(self, port, path, headers=None, timeout=20.0, host="127.0.0.1"):
        super().__init__(port, path, headers, timeout, host)
        self.last_event_id = None
        self.comments = 0
        self.retry_ms = None

    def next_event(self):
        event, data, seen_id = "message", [], None
        start = time.monotonic()
        while True:
            line = self._line()
            if line is None:
                return None
            line = line.rstrip("\r\n")
            if line == "":
                if seen_id is not None:
                    self.last_event_id = seen_id
                if not data:
                    event, seen_id = "message", None
                    continue
                text = "\n".join(data)
                return {"id": seen_id, "event": event, "data": json.loads(text)}
            if line.startswith(":"):
                self.comments += 1
                self._waited_too_long(start)
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "id":
                seen_id = value
            elif field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "retry":
                self.retry_ms = int(value)


class NdjsonClient(_Base):
    """GET /stream?... ; next_message() returns the next line's JSON object (HEARTBEAT lines counted
    in `heartbeats`, not returned), or None at the end of the stream."""

    def __init__(self, port, path, headers=None, timeout=20.0, host="127.0.0.1"):
        super().__init__(port, path, headers, timeout, host)
        self.heartbeats = 0

    def next_message(self):
        start = time.monotonic()
        while True:
            line = self._line()
            if line is None:
                return None
            if not line.endswith("\n"):
                raise StreamError("an NDJSON line without its end: %r" % line)
            msg = json.loads(line)
            if msg.get("type") == "HEARTBEAT":
                self.heartbeats += 1
                self._waited_too_long(start)
                continue
            return msg


def sse_items(client, count, rooms=None):
    """Reads SSE events until `count` push items arrived; returns (items, events read)."""
    items, events = [], []
    while len(items) < count:
        e = client.next_event()
        if e is None:
            raise StreamError("stream ended after %d of %d items: %r" % (len(items), count, events[-3:]))
        events.append(e)
        if e["event"] == "push" and (rooms is None or e["data"].get("room") in rooms):
            items += e["data"]["items"]
    return items, events


def ndjson_items(client, count):
    """Reads NDJSON lines until `count` PUSH items arrived; returns (items, messages read)."""
    items, msgs = [], []
    while len(items) < count:
        m = client.next_message()
        if m is None:
            raise StreamError("stream ended after %d of %d items" % (len(items), count))
        msgs.append(m)
        if m["type"] == "PUSH":
            items += m["data"]["items"]
    return items, msgs
