"""Cluster mode (--nats) with real processes: two nats-servers joined by routes (a NATS cluster) and
three ringcast nodes: A answers only the push API (--listen none, the go-push "logic" role) and reaches
NATS through both servers; B and C hold clients, B on the first server, C on the second. Pushes made on
any node reach the room's members on every node, exactly once; push/all too; a node subscribes only to
the rooms it has members in (clusterSubscriptions follows joins and leaves, across shards); one node's
pushes to a room arrive in their publish order everywhere; a node that dies does not stop the others;
a user push reaches that user's connections on every node, once, and nobody else.
Nothing is timed: every wait is for a condition, with a generous limit."""

import asyncio
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, command, form, http_request, join, ping, recv_json, ws_connect  # noqa: E402
from harness import push_items  # noqa: E402
from natsd import NatsServer, nats_flags, require_nats_server, start_nodes, stop_nodes, sync  # noqa: E402


class ClusterTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        require_nats_server()
        cls.n1 = NatsServer().start()
        cls.n2 = NatsServer(routes=[cls.n1.cluster_port]).start()
        cls.n2.wait_routes(1)
        cls.a = Server("--listen", "none", *nats_flags(cls.n1, cls.n2), listen=False, threads=1)
        cls.b = Server(*nats_flags(cls.n1), "--user-bind-command", threads=2)
        cls.c = Server(*nats_flags(cls.n2), "--user-bind-command", threads=2)
        cls.nodes = [cls.a, cls.b, cls.c]
        start_nodes(cls.nodes)

    @classmethod
    def tearDownClass(cls):
        stop_nodes(cls.nodes, cls.n2.stop, cls.n1.stop)

    def push(self, node, room):
        return lambda items: node.apush_room(room, items)

    async def test_pushes_reach_every_nodes_members_once(self):
        b1, c1 = await ws_connect(self.b.ws_url), await ws_connect(self.c.ws_url)
        await join(b1, "x")
        await join(c1, "x")
        await sync(self.push(self.a, "x"), [b1, c1])
        await sync(self.push(self.b, "x"), [b1, c1])
        published = (await self.a.astats())["clusterPublished"]
        # From the API-only node: both members, wherever they are.
        self.assertEqual((await self.a.apush_room("x", [1]))[0], 200)
        for c in (b1, c1):
            self.assertEqual(push_items(await recv_json(c)), [1])
        self.assertEqual((await self.a.astats())["clusterPublished"], published + 1)
        # From a node with members: its own member gets it once (locally, not back through NATS).
        self.assertEqual((await self.b.apush_room("x", [2]))[0], 200)
        for c in (b1, c1):
            self.assertEqual(push_items(await recv_json(c)), [2])
        # push/all: every client of every node (the probes make sure the all-subscriptions are routed).
        await sync(lambda items: self.a.apush_all(items), [b1, c1])
        self.assertEqual((await self.a.apush_all(["everyone"]))[0], 200)
        for c in (b1, c1):
            self.assertEqual(push_items(await recv_json(c)), ["everyone"])
        # No duplicate is still on its way: a marker from B comes next on both.
        await self.b.apush_room("x", ["marker"])
        for c in (b1, c1):
            self.assertEqual(push_items(await recv_json(c)), ["marker"])
        stats = await self.a.astats()
        self.assertEqual(stats["clusterSubscriptions"], 0)  # API-only: nothing to receive
        self.assertEqual(stats["onlineConnections"], 0)
        for node in self.nodes:
            s = await node.astats()
            self.assertEqual((s["clusterRejected"], s["clusterPublishFailed"], s["clusterReceiveFailed"]), (0, 0, 0))
        await b1.close()
        await c1.close()

    async def test_subscriptions_follow_joins_and_leaves_across_shards(self):
        b = self.b
        await b.await_stat("clusterSubscriptions", lambda v: v == 1)  # push/all only
        await b.await_stat("roomCount", lambda v: v == 0)
        # Several clients so that both of B's shards get some (SO_REUSEPORT spreads them).
        clients = [await ws_connect(b.ws_url) for _ in range(6)]
        for c in clients:
            await join(c, "i1")
        await join(clients[0], "i2")
        await b.await_stat("clusterSubscriptions", lambda v: v == 3)
        stats = await b.astats()
        self.assertEqual(stats["roomCount"], 2)  # exact: one count per room, not per shard
        status, metrics = await asyncio.to_thread(b.api, "GET", "/metrics")
        self.assertIn("ringcast_cluster_subscriptions 3\n", metrics)
        self.assertIn("ringcast_room_count 2\n", metrics)
        for c in clients[:5]:
            await c.send(command("LEAVE", room="i1"))
            await ping(c)
        await b.await_stat("roomCount", lambda v: v == 2)  # clients[5] is still in i1
        self.assertEqual((await b.astats())["clusterSubscriptions"], 3)
        await clients[5].close()
        await b.await_stat("clusterSubscriptions", lambda v: v == 2)
        await b.await_stat("roomCount", lambda v: v == 1)
        # Interest-based: a push to i1, where B has nobody now, is not even sent to B. The marker to i2
        # comes after it from the same node, so once it arrived B has seen all it will see.
        await sync(self.push(self.a, "i2"), [clients[0]])
        received = (await b.astats())["clusterReceived"]
        self.assertEqual((await self.a.apush_room("i1", ["not for B"]))[0], 200)
        self.assertEqual((await self.a.apush_room("i2", ["marker"]))[0], 200)
        self.assertEqual(push_items(await recv_json(clients[0])), ["marker"])
        self.assertEqual((await b.astats())["clusterReceived"], received + 1)
        for c in clients[:5]:
            await c.close()
        await b.await_stat("clusterSubscriptions", lambda v: v == 1)
        await b.await_stat("roomCount", lambda v: v == 0)

    async def test_one_nodes_pushes_to_a_room_keep_their_order_everywhere(self):
        n = 300
        b1, c1 = await ws_connect(self.b.ws_url), await ws_connect(self.c.ws_url)
        await join(b1, "o")
        await join(c1, "o")
        await sync(self.push(self.a, "o"), [b1, c1])
        await sync(self.push(self.b, "o"), [b1, c1])

        def burst(node, origin):
            # All requests in one write: they are accepted back to back, as fast as the node can.
            with HttpConn(node.api_port) as conn:
                conn.send(b"".join(http_request("POST", "/push/room", form(room="o", items=[[origin, k]]),
                                                {"Content-Type": "application/x-www-form-urlencoded"})
                                   for k in range(n)))
                for _ in range(n):
                    assert conn.read_response().status == 200

        # Two publishing nodes at once: each one's items arrive in its order; they interleave.
        await asyncio.gather(asyncio.to_thread(burst, self.a, "a"), asyncio.to_thread(burst, self.b, "b"))
        for c in (b1, c1):
            got = {"a": [], "b": []}
            while len(got["a"]) + len(got["b"]) < 2 * n:
                for origin, k in (await recv_json(c))["data"]["items"]:
                    got[origin].append(k)
            self.assertEqual(got["a"], list(range(n)))
            self.assertEqual(got["b"], list(range(n)))
        await b1.close()
        await c1.close()

    async def test_a_node_that_dies_does_not_stop_the_others(self):
        d = Server(*nats_flags(self.n2), threads=1)
        d.start()
        try:
            await d.await_stat("clusterConnected", lambda v: v == 1)
            b1, d1 = await ws_connect(self.b.ws_url), await ws_connect(d.ws_url)
            await join(b1, "k")
            await join(d1, "k")
            await sync(self.push(self.a, "k"), [b1, d1])
            await sync(self.push(d, "k"), [b1, d1])
            d.proc.kill()
            d.proc.wait(10)
            self.assertEqual((await self.a.apush_room("k", ["after"]))[0], 200)
            self.assertEqual(push_items(await recv_json(b1)), ["after"])
            self.assertEqual((await self.c.apush_room("k", ["from c"]))[0], 200)
            self.assertEqual(push_items(await recv_json(b1)), ["from c"])
            await b1.close()
        finally:
            d.stop()

    async def test_user_pushes_reach_the_users_connections_on_every_node(self):
        b1, c1, c2 = await ws_connect(self.b.ws_url), await ws_connect(self.c.ws_url), await ws_connect(self.c.ws_url)
        for ws, uid in ((b1, "zoe"), (c1, "zoe"), (c2, "yan")):
            await ws.send(command("BIND", uid=uid))
            self.assertEqual((await recv_json(ws))["type"], "BOUND")

        def push_user(node, uid):
            return lambda items: asyncio.to_thread(
                node.api, "POST", "/push/user", form(uid=uid, items=json.dumps(items)),
                {"Content-Type": "application/x-www-form-urlencoded"})

        await sync(push_user(self.a, "zoe"), [b1, c1])
        await sync(push_user(self.b, "zoe"), [b1, c1])
        # From the API-only node, and from a node holding one of zoe's connections (delivered there
        # locally, not again through NATS).
        for node, item in ((self.a, "from a"), (self.b, "from b"), (self.c, "from c")):
            status, body = await push_user(node, "zoe")([item])
            self.assertEqual(status, 200, body)
            for ws in (b1, c1):
                msg = await recv_json(ws)
                self.assertEqual((msg["type"], msg["data"]["items"]), ("PUSH", [item]))
        # yan got none of it: its first message is a probe of its own.
        await sync(push_user(self.a, "yan"), [c2])
        for ws in (b1, c1, c2):
            await ws.close()


if __name__ == "__main__":
    unittest.main()
