"""Presence across the cluster, with real processes: two nats-servers joined by routes and three
ringcast nodes (ids 11, 22, 33) with members of the same rooms on each. GET /rooms/{room} and GET
/rooms on any node count every node's members, list the users of all of them once (a user connected
to two nodes is one user), page across nodes, and say "nodes":3,"partial":false. A node frozen with
SIGSTOP does not answer: the answer comes within presence_timeout_ms, says "partial":true and names
node 33 in "missing", and is counted; once it runs again the answer is whole again. A node that
stops says goodbye and is no longer expected (the answer is whole, without it). With NATS gone, every
node heard of is named missing. Nothing is timed: every wait is for a condition, with a limit."""

import asyncio
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, command, join, recv_json, ws_connect  # noqa: E402
from natsd import NatsServer, nats_flags, require_nats_server  # noqa: E402


async def member(node, room, uid=None):
    ws = await ws_connect(node.ws_url)
    if uid:
        await ws.send(command("BIND", uid=uid))
        assert (await recv_json(ws))["type"] == "BOUND"
    await join(ws, room)
    return ws


class ClusterPresenceTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        require_nats_server()
        self.n1 = NatsServer().start()
        self.n2 = NatsServer(routes=[self.n1.cluster_port]).start()
        self.n2.wait_routes(1)
        self.a = Server(*nats_flags(self.n1), "--node-id", "11", "--user-bind-command", threads=2)
        self.b = Server(*nats_flags(self.n1, self.n2), "--node-id", "22", "--user-bind-command", threads=2)
        self.c = Server(*nats_flags(self.n2), "--node-id", "33", "--user-bind-command", threads=1)
        self.nodes = [self.a, self.b, self.c]
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            await node.await_stat("clusterConnected", lambda v: v == 1)
        self.clients = []

    async def asyncTearDown(self):
        for ws in self.clients:
            await ws.close()
        problems = []
        for node in self.nodes:
            if node.proc and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGCONT)
            node.stop()
            if node.problem():
                problems.append(node.problem())
                sys.stderr.write("---- ringcast log ----\n" + node.log())
        self.n2.stop()
        self.n1.stop()
        if problems:
            raise AssertionError(problems)

    async def presence(self, node, path):
        status, body = await asyncio.to_thread(node.api, "GET", path)
        self.assertEqual(status, 200, body)
        return body

    async def until(self, node, path, predicate, timeout=20.0):
        """Asks until the answer satisfies `predicate` (the nodes learn of each other by their
        announcements, a round trip after they connect); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            body = await self.presence(node, path)
            if predicate(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError("%s on node stayed %r" % (path, body))
            await asyncio.sleep(0.05)

    async def test_every_node_answers_for_the_whole_cluster_and_says_when_it_cannot(self):
        a, b, c = self.a, self.b, self.c
        # Room p: 2 members on A, 3 on B, 2 on C (one unbound); "cat" is on A and on B.
        for node, uid in ((a, "ann"), (a, "cat"), (b, "bob"), (b, "cat"), (b, "dan"), (c, "eve"), (c, None)):
            self.clients.append(await member(node, "p", uid))
        self.clients.append(await member(c, "q", "fay"))
        self.clients.append(await member(c, "q"))
        self.clients.append(await member(a, "r"))

        whole = lambda body: body.get("nodes") == 3 and not body["partial"]  # noqa: E731
        for node in (a, b, c):
            body = await self.until(node, "/rooms/p", whole)
            self.assertEqual(body, {"room": "p", "members": 7, "nodes": 3, "partial": False})
            body = await self.presence(node, "/rooms/p?users=1")
            self.assertEqual(body["users"], ["ann", "bob", "cat", "dan", "eve"])
            self.assertIsNone(body["next"])
            body = await self.presence(node, "/rooms")
            self.assertEqual(body["rooms"], [{"room": "p", "members": 7}, {"room": "q", "members": 2},
                                             {"room": "r", "members": 1}])
            self.assertEqual((body["nodes"], body["partial"]), (3, False))
        # Pages across nodes: each name once, in order, the cursor carried from page to page.
        users, cursor = [], ""
        while True:
            body = await self.presence(b, "/rooms/p?users=1&limit=2" + ("&cursor=" + cursor if cursor else ""))
            self.assertLessEqual(len(body["users"]), 2)
            users += body["users"]
            if body["next"] is None:
                break
            cursor = body["next"]
        self.assertEqual(users, ["ann", "bob", "cat", "dan", "eve"])
        rooms, cursor = [], ""
        while True:
            body = await self.presence(c, "/rooms?limit=1" + ("&cursor=" + cursor if cursor else ""))
            rooms += [(r["room"], r["members"]) for r in body["rooms"]]
            if body["next"] is None:
                break
            cursor = body["next"]
        self.assertEqual(rooms, [("p", 7), ("q", 2), ("r", 1)])
        self.assertEqual(await self.presence(a, "/rooms/nobody"),
                         {"room": "nobody", "members": 0, "nodes": 3, "partial": False})
        asked = (await a.astats())["clusterPresenceAsked"]
        self.assertGreater(asked, 0)
        self.assertGreater((await b.astats())["clusterPresenceAnswered"], 0)

        # C frozen: A answers within presence_timeout_ms, for A and B, naming C.
        c.signal(signal.SIGSTOP)
        try:
            partial_before = (await a.astats())["clusterPresencePartial"]
            body = await self.presence(a, "/rooms/p?users=1")
            self.assertEqual(body, {"room": "p", "members": 5, "users": ["ann", "bob", "cat", "dan"], "next": None,
                                    "nodes": 2, "partial": True, "missing": [33]})
            body = await self.presence(b, "/rooms")
            self.assertEqual((body["partial"], body["missing"]), (True, [33]))
            self.assertEqual(body["rooms"], [{"room": "p", "members": 5}, {"room": "r", "members": 1}])
            self.assertEqual((await a.astats())["clusterPresencePartial"], partial_before + 1)
        finally:
            c.signal(signal.SIGCONT)
        await self.until(a, "/rooms/p", lambda body: whole(body) and body["members"] == 7)

        # C stops: it says goodbye, its members are gone, and nobody is missing.
        c.stop()
        self.assertIsNone(c.problem())
        body = await self.until(a, "/rooms/p", lambda body: body["members"] == 5)
        self.assertEqual((body["nodes"], body["partial"]), (2, False))

        # NATS gone: the nodes heard of are named missing (at once: nobody can be asked).
        self.n1.kill()
        self.n2.kill()
        await a.await_stat("clusterConnected", lambda v: v == 0)
        body = await self.presence(a, "/rooms/p")
        self.assertEqual(body, {"room": "p", "members": 2, "nodes": 1, "partial": True, "missing": [22]})


class SingleNodeTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_node_without_a_cluster_answers_as_before(self):
        with Server("--user-bind-command", threads=2) as node:
            ws = await member(node, "p", "ann")
            status, body = await asyncio.to_thread(node.api, "GET", "/rooms/p?users=1")
            self.assertEqual((status, body), (200, {"room": "p", "members": 1, "users": ["ann"], "next": None}))
            await ws.close()


if __name__ == "__main__":
    unittest.main()
