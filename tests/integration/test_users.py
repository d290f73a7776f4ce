"""Per-user push and presence on the real binary. Connections bind a user id with BIND (when
user_bind_command is on) or through their connect token (uid, else sub); POST /push/user reaches every
connection of that user on every shard (2 threads, and 2 worker processes) and nobody else; POST
/push/conn reaches exactly one connection; GET /rooms/{room} counts members across shards and workers
and pages through their distinct users; GET /rooms lists rooms (never the internal user rooms). Bad
input is a 400 with a JSON body; refused BINDs are ERROR frames and the connection stays. Pushes are
compared by their items only (PUSH frames may carry more fields)."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (HttpConn, Server, children, command, http_request, join, ping, recv_json,  # noqa: E402
                     ws_connect)

SECRET = "0123456789abcdef0123456789abcdef-connect"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def make_token(claims, secret=SECRET):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    signing = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    return signing + "." + b64(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())


def shard_of(conn_id):
    return int(conn_id) >> 56


async def hello(ws):
    await ws.send(json.dumps({"type": "HELLO"}))
    msg = await recv_json(ws)
    assert msg["type"] == "HELLO", msg
    return msg["data"]


async def bind(ws, uid):
    await ws.send(command("BIND", uid=uid))
    return await recv_json(ws)


async def items_until(ws, marker):
    """The items pushed to `ws` before `marker` (a push/all made after the pushes under test: per
    connection frames keep their order, so what comes before it was delivered)."""
    items = []
    while True:
        msg = await recv_json(ws)
        assert msg["type"] == "PUSH", msg
        for x in msg["data"]["items"]:
            if x == marker:
                return items
            items.append(x)


def push_user(server, uid, items):
    return server.api("POST", "/push/user", urllib.parse.urlencode({"uid": uid, "items": json.dumps(items)}), FORM)


def push_conn(server, conn, items):
    return server.api("POST", "/push/conn", urllib.parse.urlencode({"conn": conn, "items": json.dumps(items)}), FORM)


def presence(server, path):
    return server.api("GET", path)


async def spread_clients(server, shards, per_shard, limit=200):
    """Connects until each of `shards` shards holds at least `per_shard` clients (SO_REUSEPORT picks
    the shard); returns {shard: [ws, ...]}, closing the extra ones."""
    by_shard = {s: [] for s in range(shards)}
    extra = []
    for _ in range(limit):
        if all(len(v) >= per_shard for v in by_shard.values()):
            break
        ws = await ws_connect(server.ws_url)
        s = shard_of((await hello(ws))["conn"])
        (by_shard[s] if len(by_shard[s]) < per_shard else extra).append(ws)
    for ws in extra:
        await ws.close()
    assert all(len(v) >= per_shard for v in by_shard.values()), {s: len(v) for s, v in by_shard.items()}
    return by_shard


class UsersTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--user-bind-command", "--user-id-bytes-max", 16, threads=2).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    async def asyncTearDown(self):
        for ws in getattr(self, "clients", []):
            await ws.close()

    async def test_user_push_reaches_every_connection_of_the_user_across_shards_and_nobody_else(self):
        by_shard = await spread_clients(self.server, 2, 3)
        self.clients = [ws for v in by_shard.values() for ws in v]
        ann = [by_shard[0][0], by_shard[0][1], by_shard[1][0], by_shard[1][1]]
        bob = [by_shard[0][2]]
        nobody = [by_shard[1][2]]
        for ws in ann:
            bound = await bind(ws, "ann")
            self.assertEqual(bound["type"], "BOUND", bound)
            self.assertEqual(bound["data"]["uid"], "ann")
            self.assertEqual(bound["data"]["conn"], (await hello(ws))["conn"])
            self.assertEqual((await hello(ws))["uid"], "ann")
        self.assertEqual((await bind(bob[0], "bob"))["type"], "BOUND")
        self.assertIsNone((await hello(nobody[0]))["uid"])
        status, body = await asyncio.to_thread(push_user, self.server, "ann", [{"to": "ann"}, 2])
        self.assertEqual(status, 200, body)
        self.assertTrue(body["ok"] and body["seq"] > 0, body)
        # JSON body too.
        status, body = await asyncio.to_thread(self.server.api, "POST", "/push/user",
                                               json.dumps({"uid": "ann", "items": [3]}), JSON)
        self.assertEqual(status, 200, body)
        await asyncio.to_thread(self.server.push_all, ["marker"])
        for ws in ann:
            self.assertEqual(await items_until(ws, "marker"), [{"to": "ann"}, 2, 3])
        for ws in bob + nobody:
            self.assertEqual(await items_until(ws, "marker"), [])
        # A user nobody is bound to: accepted, delivered to nobody.
        status, body = await asyncio.to_thread(push_user, self.server, "carol", [1])
        self.assertEqual(status, 200, body)
        # User rooms are not rooms: not in roomCount, not listed.
        stats = await asyncio.to_thread(self.server.stats)
        self.assertEqual(stats["roomCount"], 0)
        status, body = await asyncio.to_thread(presence, self.server, "/rooms")
        self.assertEqual((status, body), (200, {"rooms": [], "next": None}))

    async def test_bind_refusals_keep_the_connection(self):
        ws = await ws_connect(self.server.ws_url)
        self.clients = [ws]
        before = (await asyncio.to_thread(self.server.stats))["bindsRefused"]
        for uid, code in (("", "bad_uid"), ("x" * 17, "bad_uid"), ("a\u0001b", "bad_uid"), ("a\tb", "bad_uid")):
            msg = await bind(ws, uid)
            self.assertEqual((msg["type"], msg["data"]["code"]), ("ERROR", code), (uid, msg))
        await ws.send(json.dumps({"type": "BIND", "data": {}}))
        self.assertEqual((await recv_json(ws))["data"]["code"], "bad_uid")
        self.assertEqual((await bind(ws, "dora"))["type"], "BOUND")
        self.assertEqual((await bind(ws, "dora"))["type"], "BOUND")  # the same user again: a no-op
        msg = await bind(ws, "erin")
        self.assertEqual((msg["type"], msg["data"]["code"]), ("ERROR", "already_bound"), msg)
        await ping(ws)
        self.assertEqual((await hello(ws))["uid"], "dora")
        self.assertEqual((await asyncio.to_thread(self.server.stats))["bindsRefused"], before + 6)

    async def test_user_rooms_do_not_count_against_rooms_per_conn_max(self):
        ws = await ws_connect(self.server.ws_url)
        self.clients = [ws]
        self.assertEqual((await bind(ws, "fay"))["type"], "BOUND")
        await join(ws, "r1", "r2", "r3", "r4", "r5")  # go-push's 5, all of them still available
        await ws.send(command("JOIN", room="r6"))
        self.assertEqual((await recv_json(ws))["data"]["code"], "too_many_rooms")
        await ws.send(command("LEAVE", room="\u0001fay"))  # not a room a client can name
        await ping(ws)
        self.assertEqual((await hello(ws))["uid"], "fay")

    async def test_push_to_one_connection(self):
        by_shard = await spread_clients(self.server, 2, 2)
        self.clients = [ws for v in by_shard.values() for ws in v]
        target = by_shard[1][0]
        conn = (await hello(target))["conn"]
        status, body = await asyncio.to_thread(push_conn, self.server, conn, ["just you"])
        self.assertEqual(status, 200, body)
        status, body = await asyncio.to_thread(self.server.api, "POST", "/push/conn",
                                               json.dumps({"conn": int(conn), "items": [2]}), JSON)
        self.assertEqual(status, 200, body)
        # Well-formed ids of nobody: accepted (a broadcast into the ring), delivered to nobody.
        for ghost in ("12345", str(int(conn) + (1 << 26))):
            status, body = await asyncio.to_thread(push_conn, self.server, ghost, ["ghost"])
            self.assertEqual(status, 200, body)
        await asyncio.to_thread(self.server.push_all, ["marker"])
        for ws in self.clients:
            self.assertEqual(await items_until(ws, "marker"), ["just you", 2] if ws is target else [])
        # A closed connection's id reaches nobody, not the connection that reuses its slot.
        await target.close()
        self.clients.remove(target)
        newcomer = await ws_connect(self.server.ws_url)
        self.clients.append(newcomer)
        self.assertNotEqual((await hello(newcomer))["conn"], conn)
        await asyncio.to_thread(push_conn, self.server, conn, ["stale"])
        await asyncio.to_thread(self.server.push_all, ["marker2"])
        for ws in self.clients:
            self.assertEqual(await items_until(ws, "marker2"), [])

    def test_bad_push_input_is_400_json(self):
        s = self.server
        cases = [
            ("/push/user", {"items": "[1]"}, "uid is missing"),
            ("/push/user", {"uid": "", "items": "[1]"}, "uid must be"),
            ("/push/user", {"uid": "x" * 17, "items": "[1]"}, "uid must be"),
            ("/push/user", {"uid": "a\u0001", "items": "[1]"}, "uid must be"),
            ("/push/user", {"uid": "ann"}, "items is missing"),
            ("/push/conn", {"items": "[1]"}, "conn is missing"),
            ("/push/conn", {"conn": "abc", "items": "[1]"}, "conn must be"),
            ("/push/conn", {"conn": "-1", "items": "[1]"}, "conn must be"),
            ("/push/conn", {"conn": "007", "items": "[1]"}, "conn must be"),
            ("/push/conn", {"conn": "99999999999999999999999", "items": "[1]"}, "conn must be"),
        ]
        for path, fields, why in cases:
            status, body = s.api("POST", path, urllib.parse.urlencode(fields), FORM)
            self.assertEqual(status, 400, (path, fields, body))
            self.assertIn(why, body["error"], (path, fields))
        status, body = s.api("POST", "/push/user", json.dumps({"uid": 5, "items": [1]}), JSON)
        self.assertEqual(status, 400, body)
        status, body = s.api("GET", "/push/user")
        self.assertEqual(status, 405, body)

    async def test_presence_counts_and_user_pages_across_shards(self):
        by_shard = await spread_clients(self.server, 2, 4)
        self.clients = [ws for v in by_shard.values() for ws in v]
        users = ["u1", "u2", "u3", "u4", "u5"]
        # 8 members over both shards; u1 on both shards (listed once), one member unbound.
        plan = [("u1", 0), ("u2", 0), ("u3", 0), (None, 0), ("u1", 1), ("u4", 1), ("u5", 1), ("u2", 1)]
        room = "lobby/ü r"
        members = []
        counters = {s: 0 for s in (0, 1)}
        for uid, s in plan:
            ws = by_shard[s][counters[s]]
            counters[s] += 1
            if uid:
                self.assertEqual((await bind(ws, uid))["type"], "BOUND")
            await join(ws, room)
            members.append(ws)
        path = "/rooms/" + urllib.parse.quote(room, safe="")
        status, body = await asyncio.to_thread(presence, self.server, path)
        self.assertEqual((status, body), (200, {"room": room, "members": 8}))
        status, body = await asyncio.to_thread(presence, self.server, path + "?users=1")
        self.assertEqual(body, {"room": room, "members": 8, "users": users, "next": None})
        # Pages of 2: u1 u2 | u3 u4 | u5.
        pages, cursor = [], None
        while True:
            q = "?users=1&limit=2" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            status, body = await asyncio.to_thread(presence, self.server, path + q)
            self.assertEqual(status, 200, body)
            pages.append(body["users"])
            cursor = body["next"]
            if cursor is None:
                break
            self.assertEqual(cursor, body["users"][-1])
        self.assertEqual(pages, [["u1", "u2"], ["u3", "u4"], ["u5"]])
        # Leaves and closes, on both shards.
        await members[1].send(command("LEAVE", room=room))  # u2 on shard 0 (u2 stays, on shard 1)
        await ping(members[1])
        await members[6].close()  # u5 on shard 1
        await members[3].close()  # the unbound one on shard 0
        deadline = time.monotonic() + 10
        while True:
            status, body = await asyncio.to_thread(presence, self.server, path + "?users=1")
            if body["members"] == 5 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        self.assertEqual(body, {"room": room, "members": 5, "users": ["u1", "u2", "u3", "u4"], "next": None})
        # Another room; the listing, paged.
        await join(by_shard[1][0], "alpha")
        await join(by_shard[0][0], "alpha", "zeta")
        status, body = await asyncio.to_thread(presence, self.server, "/rooms")
        self.assertEqual(body, {"rooms": [{"room": "alpha", "members": 2}, {"room": room, "members": 5},
                                          {"room": "zeta", "members": 1}], "next": None})
        status, body = await asyncio.to_thread(presence, self.server, "/rooms?limit=2")
        self.assertEqual(body, {"rooms": [{"room": "alpha", "members": 2}, {"room": room, "members": 5}],
                                "next": room})
        status, body = await asyncio.to_thread(presence, self.server,
                                               "/rooms?limit=2&cursor=" + urllib.parse.quote(room))
        self.assertEqual(body, {"rooms": [{"room": "zeta", "members": 1}], "next": None})
        # Unknown room: 0 members.
        status, body = await asyncio.to_thread(presence, self.server, "/rooms/nobody?users=1")
        self.assertEqual((status, body), (200, {"room": "nobody", "members": 0, "users": [], "next": None}))
        stats = await asyncio.to_thread(self.server.stats)
        self.assertGreater(stats["presenceQueries"], 0)
        self.assertEqual(stats["presenceTimeouts"], 0)

    def test_bad_presence_input_is_400_json(self):
        for path, why in [("/rooms/a%zz", "%-escape"), ("/rooms/a%0", "%-escape"), ("/rooms/a%01b", "room must be"),
                          ("/rooms/r?limit=0", "limit"), ("/rooms/r?limit=1001", "limit"),
                          ("/rooms?limit=x", "limit"), ("/rooms/r?users=maybe", "users"),
                          ("/rooms/r?cursor=%zz", "%-escape"),
                          ("/rooms/" + "x" * 129, "room must be")]:
            status, body = self.server.api("GET", path)
            self.assertEqual(status, 400, (path, body))
            self.assertIn(why, body["error"], path)
        status, body = self.server.api("POST", "/rooms/r", "x=1", FORM)
        self.assertEqual(status, 405, body)

    def test_pipelined_presence_requests_are_answered_in_order(self):
        with HttpConn(self.server.api_port) as conn:
            conn.send(http_request("GET", "/rooms/p1") + http_request("GET", "/health") +
                      http_request("GET", "/rooms/p2?users=1") + http_request("GET", "/rooms"))
            answers = [conn.read_response() for _ in range(4)]
        self.assertEqual([a.status for a in answers], [200] * 4)
        self.assertEqual(answers[0].json(), {"room": "p1", "members": 0})
        self.assertEqual(answers[1].json(), {"ok": True})
        self.assertEqual(answers[2].json()["room"], "p2")
        self.assertIn("rooms", answers[3].json())


class BindDisabledTest(unittest.IsolatedAsyncioTestCase):
    async def test_bind_is_refused_unless_configured(self):
        with Server(threads=1) as server:
            ws = await ws_connect(server.ws_url)
            msg = await bind(ws, "ann")
            self.assertEqual((msg["type"], msg["data"]["code"]), ("ERROR", "bind_disabled"), msg)
            self.assertIsNone((await hello(ws))["uid"])
            await ping(ws)
            self.assertEqual((await asyncio.to_thread(server.stats))["bindsRefused"], 1)
            await ws.close()


class TokenUserTest(unittest.IsolatedAsyncioTestCase):
    async def test_the_connect_token_binds_its_user(self):
        with Server("--token-secret", SECRET, "--user-bind-command", threads=2) as server:
            exp = int(time.time()) + 300
            uid_token = make_token({"sub": "account-7", "uid": "gus", "exp": exp})
            sub_token = make_token({"sub": "gus", "exp": exp})
            other = make_token({"sub": "hal", "exp": exp})
            anonymous = make_token({"exp": exp})
            a = await ws_connect(server.ws_url + "?token=" + uid_token)
            b = await ws_connect(server.ws_url + "?token=" + sub_token)
            c = await ws_connect(server.ws_url + "?token=" + other)
            d = await ws_connect(server.ws_url + "?token=" + anonymous)
            self.assertEqual((await hello(a))["uid"], "gus")
            self.assertEqual((await hello(b))["uid"], "gus")
            self.assertEqual((await hello(c))["uid"], "hal")
            self.assertIsNone((await hello(d))["uid"])
            msg = await bind(a, "gus")
            self.assertEqual((msg["type"], msg["data"]["code"]), ("ERROR", "bound_by_token"), msg)
            self.assertEqual((await bind(d, "ivy"))["type"], "BOUND")  # no user in the token: BIND may
            status, body = await asyncio.to_thread(push_user, server, "gus", ["for gus"])
            self.assertEqual(status, 200, body)
            await asyncio.to_thread(server.push_all, ["marker"])
            self.assertEqual(await items_until(a, "marker"), ["for gus"])
            self.assertEqual(await items_until(b, "marker"), ["for gus"])
            self.assertEqual(await items_until(c, "marker"), [])
            self.assertEqual(await items_until(d, "marker"), [])
            self.assertEqual((await asyncio.to_thread(server.stats))["binds"], 4)
            # A token whose user could not be a user id is refused at the upgrade.
            bad = make_token({"uid": "a\u0001b", "exp": exp})
            with self.assertRaises(Exception):
                await ws_connect(server.ws_url + "?token=" + bad)
            for ws in (a, b, c, d):
                await ws.close()


class PresenceEventsTest(unittest.IsolatedAsyncioTestCase):
    async def test_joins_leaves_and_closes_are_pushed_to_the_room(self):
        with Server("--presence-events", "--user-bind-command", threads=2) as server:
            by_shard = await spread_clients(server, 2, 2)
            a, b, c = by_shard[0][0], by_shard[1][0], by_shard[1][1]
            self.assertEqual((await bind(a, "ann"))["type"], "BOUND")
            self.assertEqual((await bind(c, "cy"))["type"], "BOUND")
            ids = {ws: (await hello(ws))["conn"] for ws in (a, b, c)}

            def ev(kind, ws, uid):
                return {"presence": kind, "room": "ev", "uid": uid, "conn": ids[ws]}

            async def next_item(ws):
                msg = await recv_json(ws)
                self.assertEqual(msg["type"], "PUSH", msg)
                self.assertEqual(len(msg["data"]["items"]), 1, msg)
                return msg["data"]["items"][0]

            # One step at a time (the connections are on two shards): each event before the next step.
            await a.send(command("JOIN", room="ev"))
            self.assertEqual(await next_item(a), ev("join", a, "ann"))  # the joiner gets its own
            await b.send(command("JOIN", room="ev"))
            self.assertEqual(await next_item(a), ev("join", b, None))
            await c.send(command("JOIN", room="ev"))
            self.assertEqual(await next_item(a), ev("join", c, "cy"))
            await b.send(command("LEAVE", room="ev"))
            self.assertEqual(await next_item(a), ev("leave", b, None))
            await c.close()
            self.assertEqual(await next_item(a), ev("leave", c, "cy"))
            stats = await asyncio.to_thread(server.stats)
            self.assertEqual((stats["presenceEvents"], stats["presenceEventsRefused"]), (5, 0))
            # Off by default (every other test class): no event items at all.
            for ws in (a, b, by_shard[0][1]):
                await ws.close()


class WorkersTest(unittest.IsolatedAsyncioTestCase):
    async def test_user_push_and_presence_across_worker_processes(self):
        with Server("--workers", 2, "--user-bind-command", threads=1) as server:
            by_shard = await spread_clients(server, 2, 3)
            clients = [ws for v in by_shard.values() for ws in v]
            for s in (0, 1):
                self.assertEqual((await bind(by_shard[s][0], "jo"))["type"], "BOUND")
                self.assertEqual((await bind(by_shard[s][1], "kim" if s else "lee"))["type"], "BOUND")
                for ws in by_shard[s]:
                    await join(ws, "hall")
            status, body = await asyncio.to_thread(push_user, server, "jo", ["hi jo"])
            self.assertEqual(status, 200, body)
            await asyncio.to_thread(server.push_all, ["marker"])
            for s in (0, 1):
                for i, ws in enumerate(by_shard[s]):
                    self.assertEqual(await items_until(ws, "marker"), ["hi jo"] if i == 0 else [])
            status, body = await asyncio.to_thread(server.api, "GET", "/rooms/hall?users=1")
            self.assertEqual(body, {"room": "hall", "members": 6, "users": ["jo", "kim", "lee"], "next": None})
            # A connection id from the other worker's shard: exactly that connection.
            target = by_shard[1][2]
            conn = (await hello(target))["conn"]
            await asyncio.to_thread(push_conn, server, conn, ["one"])
            await asyncio.to_thread(server.push_all, ["marker2"])
            for ws in clients:
                self.assertEqual(await items_until(ws, "marker2"), ["one"] if ws is target else [])
            await by_shard[0][2].close()
            deadline = time.monotonic() + 10
            while True:
                status, body = await asyncio.to_thread(server.api, "GET", "/rooms")
                if body["rooms"] == [{"room": "hall", "members": 5}] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            self.assertEqual(body, {"rooms": [{"room": "hall", "members": 5}], "next": None})
            for ws in clients:
                await ws.close()

    def test_a_shard_that_does_not_answer_is_a_503_naming_it_then_presence_recovers(self):
        with Server("--workers", 2, "--presence-timeout-ms", 300, threads=1) as server:
            workers = children(server.proc.pid)
            self.assertEqual(len(workers), 2)
            os.kill(workers[1], signal.SIGSTOP)  # shard 1 (worker 1) stops answering anything
            try:
                answer = None
                for _ in range(40):  # the kernel may hand the API connection to the stopped shard: retry
                    try:
                        answer = server.api("GET", "/rooms/x", timeout=2)
                        break
                    except OSError:
                        continue
                self.assertIsNotNone(answer)
                status, body = answer
                self.assertEqual(status, 503, body)
                self.assertIn("shard 1 did not answer", body["error"])
            finally:
                os.kill(workers[1], signal.SIGCONT)
            deadline = time.monotonic() + 10
            while True:
                status, body = server.api("GET", "/rooms/x", timeout=5)
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual((status, body), (200, {"room": "x", "members": 0}))
            self.assertGreaterEqual(server.stats()["presenceTimeouts"], 1)


if __name__ == "__main__":
    unittest.main()
