"""Cluster mode under faults, with real processes: NATS unreachable (the push API answers 503 and
counts it, never a silent drop; delivery resumes after the server is back, subscriptions included);
a NATS cluster of two servers losing the one a node is connected to (the node fails over to the
other); and --workers with --nats, where the bridge is a child process of the supervisor that is
restarted when it dies. Nothing is timed: every wait is for a condition, with a generous limit."""

import asyncio
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, children, join, recv_json, ws_connect  # noqa: E402
from harness import push_items  # noqa: E402
from natsd import NatsServer, nats_flags, require_nats_server, sync  # noqa: E402


class ClusterFaultTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        require_nats_server()

    def push(self, node, room):
        return lambda items: node.apush_room(room, items)

    async def test_without_nats_pushes_are_refused_and_counted_then_delivery_resumes(self):
        with NatsServer(cluster=False) as nats, \
                Server("--listen", "none", *nats_flags(nats), listen=False, threads=1) as a, \
                Server(*nats_flags(nats), threads=2) as b:
            await a.await_stat("clusterConnected", lambda v: v == 1)
            b1 = await ws_connect(b.ws_url)
            await join(b1, "f")
            await b.await_stat("clusterSubscriptions", lambda v: v == 2)
            await sync(self.push(a, "f"), [b1])

            nats.kill()
            await a.await_stat("clusterConnected", lambda v: v == 0)
            await b.await_stat("clusterConnected", lambda v: v == 0)
            status, body = await a.apush_room("f", ["lost?"])
            self.assertEqual(status, 503, body)
            self.assertIn("cluster unreachable", body["error"])
            self.assertEqual((await a.apush_all(["lost?"]))[0], 503)
            # B refuses too, even for its own members: a push accepted now would miss the other nodes.
            self.assertEqual((await b.apush_room("f", ["lost?"]))[0], 503)
            # A room joined while NATS is down: subscribed locally, sent to the server on reconnect.
            b2 = await ws_connect(b.ws_url)
            await join(b2, "f2")
            await b.await_stat("clusterSubscriptions", lambda v: v == 3)
            stats = await a.astats()
            self.assertEqual(stats["publishRefusedCluster"], 2)
            self.assertEqual(stats["clusterDisconnects"], 1)
            status, metrics = await asyncio.to_thread(a.api, "GET", "/metrics")
            self.assertIn("ringcast_cluster_connected 0\n", metrics)
            self.assertRegex(metrics, r'ringcast_messages_dropped_total\{shard="0",reason="cluster_down"\} 2\n')

            nats.start()  # the same port: the nodes' reconnect attempts find it
            await a.await_stat("clusterConnected", lambda v: v == 1, timeout=30)
            await b.await_stat("clusterConnected", lambda v: v == 1, timeout=30)
            self.assertGreaterEqual((await b.astats())["clusterReconnects"], 1)
            # libnats sent B's subscriptions again on reconnect: A's pushes reach b1 again.
            await sync(self.push(a, "f"), [b1])
            self.assertEqual((await a.apush_room("f", ["back"]))[0], 200)
            self.assertEqual(push_items(await recv_json(b1)), ["back"])
            # Nothing refused during the outage shows up late.
            self.assertEqual((await b.apush_room("f", ["marker"]))[0], 200)
            self.assertEqual(push_items(await recv_json(b1)), ["marker"])
            await sync(self.push(a, "f2"), [b2])
            await b1.close()
            await b2.close()

    async def test_a_node_fails_over_to_the_other_server_of_a_nats_cluster(self):
        n1 = NatsServer().start()
        n2 = NatsServer(routes=[n1.cluster_port])
        try:
            # B is started while only n1 is up, so it is connected to n1; it also knows n2.
            b = Server(*nats_flags(n1, n2), threads=1)
            with b:
                await b.await_stat("clusterConnected", lambda v: v == 1)
                n2.start()
                n2.wait_routes(1)
                with Server(*nats_flags(n2), threads=1) as c:
                    await c.await_stat("clusterConnected", lambda v: v == 1)
                    b1, c1 = await ws_connect(b.ws_url), await ws_connect(c.ws_url)
                    await join(b1, "g")
                    await join(c1, "g")
                    await sync(self.push(c, "g"), [b1, c1])
                    n1.kill()
                    # B notices, reconnects to n2 and sends its subscriptions there.
                    await b.await_stat("clusterReconnects", lambda v: v >= 1, timeout=30)
                    await b.await_stat("clusterConnected", lambda v: v == 1)
                    await sync(self.push(c, "g"), [b1, c1])
                    await sync(self.push(b, "g"), [b1, c1])
                    self.assertEqual((await b.apush_room("g", ["via n2"]))[0], 200)
                    for ws in (b1, c1):
                        self.assertEqual(push_items(await recv_json(ws)), ["via n2"])
                    self.assertIn("reconnected to nats://127.0.0.1:%d" % n2.port, b.log())
                    await b1.close()
                    await c1.close()
        finally:
            n2.stop()
            n1.stop()

    async def test_workers_mode_runs_the_bridge_as_a_restartable_child_process(self):
        with NatsServer(cluster=False) as nats, \
                Server("--workers", 2, *nats_flags(nats), threads=1) as a, \
                Server(*nats_flags(nats), threads=1) as b:
            await a.await_stat("clusterConnected", lambda v: v == 1)
            self.assertEqual(len(children(a.proc.pid)), 3)  # two workers and the bridge
            bridge_pid = int(re.search(r"ringcast\[(\d+)\]: cluster: node \d+ connected", a.log()).group(1))
            self.assertIn(bridge_pid, children(a.proc.pid))
            # Enough clients that both workers have some.
            a_clients = [await ws_connect(a.ws_url) for _ in range(8)]
            for ws in a_clients:
                await join(ws, "w")
            b1 = await ws_connect(b.ws_url)
            await join(b1, "w")
            await a.await_stat("roomCount", lambda v: v == 1)
            await sync(self.push(b, "w"), a_clients + [b1])
            await sync(self.push(a, "w"), a_clients + [b1])
            self.assertEqual((await a.apush_room("w", ["from a"]))[0], 200)
            for ws in a_clients + [b1]:
                self.assertEqual(push_items(await recv_json(ws)), ["from a"])

            os.kill(bridge_pid, signal.SIGKILL)
            await a.await_stat("clusterBridgeRestarts", lambda v: v == 1)
            await a.await_stat("clusterConnected", lambda v: v == 1)
            deadline = time.monotonic() + 20
            while len(children(a.proc.pid)) != 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            self.assertNotIn(bridge_pid, children(a.proc.pid))
            self.assertIn("NATS bridge (pid %d) killed by signal 9" % bridge_pid, a.log())
            # The new bridge subscribed from the node-wide room table and forwards again.
            await a.await_stat("clusterSubscriptions", lambda v: v == 2)
            await sync(self.push(b, "w"), a_clients + [b1])
            await sync(self.push(a, "w"), a_clients + [b1])
            for ws in a_clients + [b1]:
                await ws.close()
            await a.await_stat("clusterSubscriptions", lambda v: v == 1)


if __name__ == "__main__":
    unittest.main()
