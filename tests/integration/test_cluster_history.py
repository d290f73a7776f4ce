"""One history for the cluster (--jetstream, docs/cluster.md): real nats-servers with JetStream (two
joined by routes, each with its own store directory), real ringcast nodes, real clients. A go-push
client that read part of a room's stream on one node, was cut, and JOINs on another node with `since`
gets every item it missed exactly once, in order, before new ones, then JOINED recovered:true; with
the nodes' own merge window; while two nodes publish at once; with a Nano member and a go-push member
on the other nodes receiving the same items in the same order. A nats-server restarted (file
storage) while a node keeps publishing: every item the API accepted reaches every client on every
node once, in the same order. A node killed and started again replays from the stream items published
before it started; so does a node of worker processes (--workers). Nodes whose nats-server has no
JetStream refuse room pushes with 503.

RINGCAST_TEST_JETSTREAM=0 runs the same plan with JetStream off (today's node-local positions): the
cross-node recovery must then fail, which shows the test can fail. Nothing is timed: every wait is for a
condition, with a generous limit."""

import asyncio
import json
import os
import signal
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, command, form, join, ping, recv_json, ws_connect  # noqa: E402
from nano_client import nano_connect  # noqa: E402
from natsd import NatsServer, nats_flags, require_nats_server, start_nodes, stop_nodes, sync  # noqa: E402
from stream_client import SseClient  # noqa: E402

JETSTREAM = os.environ.get("RINGCAST_TEST_JETSTREAM", "1") != "0"


def history_flags():
    return ["--jetstream", "true"] if JETSTREAM else []


async def join_since(ws, room, since, epoch=None):
    data = {"room": room, "since": since}
    if epoch is not None:
        data["epoch"] = epoch
    await ws.send(json.dumps({"type": "JOIN", "data": data}))


class GoPushReader:
    """A go-push client's view of one room: the items in arrival order and the last `seq`."""

    def __init__(self, ws, room):
        self.ws, self.room = ws, room
        self.items, self.seq, self.epoch = [], None, None

    async def until_joined(self, timeout=30.0):
        """Reads PUSHes (the replay) up to the JOINED marker; returns (replayed items, marker)."""
        replayed = []
        while True:
            msg = await recv_json(self.ws, timeout)
            if msg["type"] == "JOINED":
                self.epoch = msg["data"]["epoch"]
                if self.seq is None or msg["data"]["seq"] > self.seq:
                    self.seq = msg["data"]["seq"]
                return replayed, msg["data"]
            replayed.extend(self.take(msg))

    def take(self, msg):
        assert msg["type"] == "PUSH" and msg["data"]["room"] == self.room, msg
        if self.seq is not None:
            assert msg["data"]["seq"] > self.seq, (msg, self.seq)  # positions only grow
        self.seq = msg["data"]["seq"]
        self.items.extend(msg["data"]["items"])
        return msg["data"]["items"]

    async def read_until(self, done, timeout=60.0):
        """Reads PUSHes until done(items) holds."""
        while not done(self.items):
            self.take(await recv_json(self.ws, timeout))


class NanoReader:
    """A Nano/Pomelo member: onPush carries the PUSH's data object."""

    def __init__(self, client):
        self.client, self.items = client, []

    async def read_until(self, done, timeout=60.0):
        while not done(self.items):
            self.items.extend((await self.client.push("onPush", timeout=timeout))["items"])


def ends(markers):
    """done(items): every marker item has arrived."""
    return lambda items: all(m in items for m in markers)


def probes_only(items):
    return [i for i in items if isinstance(i, dict) and "probe" in i]


async def push_ok(node, room, items):
    status, body = await node.apush_room(room, items)
    assert status == 200, (status, body)
    return body


async def warm_up(publishers, room, readers):
    """Probes from every publishing node until every reader has one of each (the room's interest has
    reached every server), then markers; afterwards the readers hold only probes, which are dropped."""
    for p, node in enumerate(publishers):
        probe = 0
        while True:
            probe += 1
            await push_ok(node, room, [{"probe": p, "n": probe}])
            got = True
            for r in readers:
                try:
                    await asyncio.wait_for(r.read_until(lambda items: any(
                        isinstance(i, dict) and i.get("probe") == p for i in items)), 0.5)
                except asyncio.TimeoutError:
                    got = False
            if got:
                break
    marker = {"warm": room}
    await push_ok(publishers[0], room, [marker])
    for r in readers:
        await r.read_until(ends([marker]))
        # (A Nano member's room.join announces itself to the room: onNewUser, an item like any other.)
        assert all("probe" in i or i == marker or i.get("route") == "onNewUser" for i in r.items), r.items
        r.items.clear()


class Publisher:
    """Pushes numbered items to a room on one node until stopped, then an end marker."""

    def __init__(self, node, room, name):
        self.node, self.room, self.name = node, room, name
        self.accepted, self.refused = [], 0
        self.stopping = asyncio.Event()
        self.progress = asyncio.Condition()
        self.end = {"end": name}

    async def run(self, tolerate_refusals=False):
        i = 0
        while not self.stopping.is_set():
            item = {"p": self.name, "i": i}
            status, body = await self.node.apush_room(self.room, [item])
            if status == 200:
                self.accepted.append(item)
            else:
                # An outage: 503 with a JSON error body, never anything else.
                assert tolerate_refusals and status == 503 and "error" in body, (status, body)
                self.refused += 1
                await asyncio.sleep(0.02)
            i += 1
            async with self.progress:
                self.progress.notify_all()
        while True:  # the end marker must be accepted (the outage is over by now)
            status, body = await self.node.apush_room(self.room, [self.end])
            if status == 200:
                return
            assert tolerate_refusals and status == 503, (status, body)
            await asyncio.sleep(0.05)

    async def wait_accepted(self, count):
        async with self.progress:
            await self.progress.wait_for(lambda: len(self.accepted) >= count)


class ClusterHistoryTest(unittest.IsolatedAsyncioTestCase):
    """Two JetStream servers (a NATS cluster), three nodes: A and C publish and hold clients, B holds
    clients. Each test uses its own rooms."""

    @classmethod
    def setUpClass(cls):
        require_nats_server()
        cls.dirs = [tempfile.mkdtemp(prefix="rc-js-") for _ in range(2)]
        # JetStream in a NATS cluster wants routes configured on every server: each names the other.
        cls.n1 = NatsServer(jetstream=True, store_dir=cls.dirs[0], name="js1")
        cls.n2 = NatsServer(routes=[cls.n1.cluster_port], jetstream=True, store_dir=cls.dirs[1], name="js2")
        cls.n1.routes = [cls.n2.cluster_port]
        cls.n1.start()
        cls.n2.start()
        cls.n2.wait_routes(1)
        cls.n1.wait_jetstream()
        cls.n2.wait_jetstream()
        nats = nats_flags(cls.n1, cls.n2)
        cls.a = Server(*nats, *history_flags(), threads=2)
        cls.b = Server(*nats_flags(cls.n2, cls.n1), *history_flags(), "--user-bind-command", threads=2)
        cls.c = Server(*nats_flags(cls.n2, cls.n1), *history_flags(), "--user-bind-command", threads=1)
        cls.nodes = [cls.a, cls.b, cls.c]
        start_nodes(cls.nodes, timeout=30, history=JETSTREAM)

    @classmethod
    def tearDownClass(cls):
        stop_nodes(cls.nodes, cls.n2.stop, cls.n1.stop)

    async def moved_client(self, room, publishers, source, target):
        """A client on `source` reads part of the stream, is cut, and resumes on `target` while
        `publishers` push; a go-push member on C and a Nano member on B read all of it. The mover's
        items before + replayed + live must equal the members' (every item once, in order)."""
        mover = GoPushReader(await ws_connect(source.ws_url), room)
        await join_since(mover.ws, room, None)  # "since":null: the room's position, nothing replayed
        _, marker = await mover.until_joined()
        self.assertTrue(marker["recovered"])
        steady = GoPushReader(await ws_connect(self.c.ws_url), room)
        await join(steady.ws, room)
        nano = await nano_connect(self.b.ws_url.replace("/connect", "/nano"))
        self.assertEqual((await nano.request("room.join", {"room": room, "uid": "n"}))["code"], 0)
        nano_reader = NanoReader(nano)
        await warm_up(publishers, room, [mover, steady, nano_reader])

        pubs = [Publisher(node, room, f"{room}-{k}") for k, node in enumerate(publishers)]
        tasks = [asyncio.create_task(p.run()) for p in pubs]
        # The mover reads a part, then is cut while the pushes go on.
        await mover.read_until(lambda items: len(items) >= 10)
        since, epoch = mover.seq, mover.epoch
        await mover.ws.close()
        before = list(mover.items)
        for p in pubs:
            await p.wait_accepted(len(p.accepted) + 15)  # it misses these at least

        moved = GoPushReader(await ws_connect(target.ws_url), room)
        moved.seq = since
        await join_since(moved.ws, room, since, epoch)
        replayed, marker = await moved.until_joined()
        self.assertTrue(marker["recovered"], marker)
        self.assertGreater(len(replayed), 0)
        self.assertEqual(marker["epoch"], epoch)  # one history for the whole cluster
        for p in pubs:
            await p.wait_accepted(len(p.accepted) + 5)  # some arrive live
            p.stopping.set()
        await asyncio.gather(*tasks)
        done = ends([p.end for p in pubs])
        await moved.read_until(done)
        await steady.read_until(done)
        await nano_reader.read_until(done)

        accepted = [i for p in pubs for i in p.accepted] + [p.end for p in pubs]
        self.assertEqual(sorted(map(json.dumps, steady.items)), sorted(map(json.dumps, accepted)))
        self.assertEqual(nano_reader.items, steady.items)  # the same order on every node
        self.assertEqual(before + moved.items, steady.items)  # once each, in order, nothing lost
        for p in pubs:  # one publisher's items in its order
            mine = [i for i in steady.items if isinstance(i, dict) and i.get("p") == p.name]
            self.assertEqual(mine, p.accepted)
        for ws in (moved.ws, steady.ws):
            await ws.close()
        await nano.close()

    async def test_moves_to_another_node(self):
        await self.moved_client("move", [self.a], self.a, self.b)

    async def test_moves_while_two_nodes_publish(self):
        await self.moved_client("busy", [self.a, self.c], self.a, self.c)

    async def test_an_sse_client_resumes_on_another_node(self):
        # A browser's EventSource on node A loses its stream and reconnects, through the load balancer,
        # to node B with Last-Event-ID: B replays from the stream what it missed, as SSE push events,
        # then the joined event (recovered, the cluster's epoch), then live pushes: every item once.
        room = "sse-move"
        steady = GoPushReader(await ws_connect(self.c.ws_url), room)
        await join(steady.ws, room)
        sse = await asyncio.to_thread(SseClient, self.a.ws_port, f"/sse?room={room}")

        async def next_event(client):
            e = await asyncio.to_thread(client.next_event)
            self.assertIsNotNone(e, "the stream ended")
            return e

        first = await next_event(sse)
        self.assertEqual(first["event"], "joined", first)
        self.assertTrue(first["data"]["recovered"])
        sse_items = []

        class SseReader:  # warm_up's reader interface over the SSE stream
            items = sse_items

            async def read_until(self, done, timeout=60.0):
                while not done(sse_items):
                    e = await asyncio.wait_for(next_event(sse), timeout)
                    if e["event"] == "push":
                        sse_items.extend(e["data"]["items"])

        await warm_up([self.a], room, [steady, SseReader()])
        pub = Publisher(self.a, room, room)
        task = asyncio.create_task(pub.run())
        await SseReader().read_until(lambda items: len(items) >= 10)
        last_id, epoch = sse.last_event_id, first["data"]["epoch"]
        before = list(sse_items)
        await asyncio.to_thread(sse.close)
        await pub.wait_accepted(len(pub.accepted) + 15)  # it misses these at least

        again = await asyncio.to_thread(SseClient, self.b.ws_port, f"/sse?room={room}",
                                        {"Last-Event-ID": last_id})
        replayed = []
        while True:
            e = await next_event(again)
            if e["event"] == "joined":
                break
            self.assertEqual(e["event"], "push", e)
            replayed += e["data"]["items"]
        self.assertTrue(e["data"]["recovered"], e)
        self.assertEqual(e["data"]["epoch"], epoch)  # one history for the whole cluster
        self.assertGreater(len(replayed), 0)
        await pub.wait_accepted(len(pub.accepted) + 5)  # some arrive live
        pub.stopping.set()
        await task
        live = []
        while pub.end not in live:
            e = await next_event(again)
            if e["event"] == "push":
                live += e["data"]["items"]
        await steady.read_until(ends([pub.end]))
        self.assertEqual(before + replayed + live, steady.items)  # once each, in order, nothing lost
        self.assertEqual(sorted(map(json.dumps, steady.items)),
                         sorted(map(json.dumps, pub.accepted + [pub.end])))
        await asyncio.to_thread(again.close)
        await steady.ws.close()

    async def test_resume_beyond_what_the_node_has_and_position_only(self):
        # A room new to B: since:null gives the stream's position; resuming from it replays nothing.
        room = "fresh"
        await push_ok(self.a, room, ["before"])
        ws = GoPushReader(await ws_connect(self.b.ws_url), room)
        await join_since(ws.ws, room, None)
        replayed, marker = await ws.until_joined()
        self.assertEqual(replayed, [])
        self.assertTrue(marker["recovered"])
        if JETSTREAM:
            self.assertGreater(marker["seq"], 0)  # "before" has a position, cluster-wide
        # A resume from an epoch that is not the cluster's: nothing replayed, recovered:false.
        other = GoPushReader(await ws_connect(self.b.ws_url), room)
        await join_since(other.ws, room, 0, "0123456789abcdef")
        replayed, marker = await other.until_joined()
        self.assertEqual(replayed, [])
        self.assertFalse(marker["recovered"])
        await ws.ws.close()
        await other.ws.close()


    async def test_user_and_all_pushes_keep_the_plain_path(self):
        # No history for them (not replayed): every node with clients receives every user push and
        # every push/all through NATS, as without JetStream, and delivers them once.
        b1, c1 = await ws_connect(self.b.ws_url), await ws_connect(self.c.ws_url)
        for ws in (b1, c1):
            await ws.send(command("BIND", uid="kim"))
            self.assertEqual((await recv_json(ws))["type"], "BOUND")

        def push_user(items):
            return asyncio.to_thread(self.a.api, "POST", "/push/user", form(uid="kim", items=json.dumps(items)),
                                     {"Content-Type": "application/x-www-form-urlencoded"})

        await sync(push_user, [b1, c1])
        status, body = await push_user(["for kim"])
        self.assertEqual(status, 200, body)
        self.assertIn("seq", body)  # the node's own number: user pushes are not in the stream
        for ws in (b1, c1):
            self.assertEqual((await recv_json(ws))["data"]["items"], ["for kim"])
        await sync(lambda items: self.a.apush_all(items), [b1, c1])
        status, body = await self.a.apush_all(["for all"])
        self.assertEqual(status, 200, body)
        for ws in (b1, c1):
            self.assertEqual((await recv_json(ws))["data"]["items"], ["for all"])
            await ping(ws)  # nothing else came (the PONG is next)
            await ws.close()


class MergeWindowHistoryTest(unittest.IsolatedAsyncioTestCase):
    """The same move with the nodes' merge window (go-push maxMergerDelay) on: a batch waiting in the
    window when the mover joins must not bring it items the replay has."""

    @classmethod
    def setUpClass(cls):
        require_nats_server()
        cls.dir = tempfile.mkdtemp(prefix="rc-js-")
        cls.n1 = NatsServer(cluster=False, jetstream=True, store_dir=cls.dir).start()
        cls.n1.wait_jetstream()
        flags = [*nats_flags(cls.n1), *history_flags(), "--merge-window-ms", "30", "--nats-subject-prefix", "mw"]
        cls.a = Server(*flags, threads=2)
        cls.b = Server(*flags, threads=2)
        cls.c = Server(*flags, threads=2)
        cls.nodes = [cls.a, cls.b, cls.c]
        start_nodes(cls.nodes, timeout=30, history=JETSTREAM)

    @classmethod
    def tearDownClass(cls):
        stop_nodes(cls.nodes, cls.n1.stop)

    async def test_moves_with_a_merge_window(self):
        await ClusterHistoryTest.moved_client(self, "window", [self.a, self.c], self.a, self.b)


class OutageHistoryTest(unittest.IsolatedAsyncioTestCase):
    """One JetStream server with file storage, restarted while node B keeps publishing; then node C
    killed and started again. Each test starts from its own servers and nodes."""

    def setUp(self):
        require_nats_server()
        self.dir = tempfile.mkdtemp(prefix="rc-js-")
        self.nats = NatsServer(cluster=False, jetstream=True, store_dir=self.dir).start()
        self.nats.wait_jetstream()
        self.nodes = []

    def node(self, *extra, threads=2):
        node = Server(*nats_flags(self.nats), *history_flags(), *extra, threads=threads)
        start_nodes([node], timeout=30, history=JETSTREAM)
        self.nodes.append(node)
        return node

    def tearDown(self):
        problems = []
        for node in self.nodes:
            node.stop()
            if os.environ.get("RINGCAST_TEST_LOGS"):
                with open(os.path.join(os.environ["RINGCAST_TEST_LOGS"], f"{self.id()}-{node.api_port}.log"), "w") as f:
                    f.write(node.log())
            if node.problem():
                problems.append(node.problem())
                sys.stderr.write("---- ringcast log ----\n" + node.log())
        self.nats.stop()
        if problems:
            raise AssertionError(problems)

    async def test_server_restart_while_publishing(self):
        b, c = self.node(), self.node()
        room = "outage"
        readers = []
        for node in (b, c, c):
            r = GoPushReader(await ws_connect(node.ws_url), room)
            await join(r.ws, room)
            readers.append(r)
        await warm_up([b], room, readers)
        pub = Publisher(b, room, "out")
        task = asyncio.create_task(pub.run(tolerate_refusals=True))
        await pub.wait_accepted(20)
        self.nats.stop()  # SIGTERM: the store is on disk
        await b.await_stat("clusterConnected", lambda v: v == 0, timeout=30)
        refused = pub.refused
        while pub.refused < refused + 3:  # the API answers 503 meanwhile (JSON error body)
            await asyncio.sleep(0.05)
        self.nats.start()
        for node in (b, c):
            await node.await_stat("clusterConnected", lambda v: v == 1, timeout=60)
            if JETSTREAM:
                await node.await_stat("jsHistoryOk", lambda v: v == 1, timeout=60)
        await pub.wait_accepted(len(pub.accepted) + 20)
        pub.stopping.set()
        await task
        for r in readers:
            await r.read_until(ends([pub.end]), timeout=120)
        accepted = pub.accepted + [pub.end]
        for r in readers:  # every accepted item once, nothing else
            self.assertEqual(sorted(map(json.dumps, r.items)), sorted(map(json.dumps, accepted)))
            self.assertEqual(r.items[-1], pub.end)
        # In the same order on every client of every node (the stream's). That is the API's order too,
        # except that a push lost in flight with the server and sent again after its ack timeout may
        # land after pushes libnats had buffered meanwhile and sent at the reconnect (docs/cluster.md).
        for r in readers[1:]:
            self.assertEqual(r.items, readers[0].items)
        self.assertGreater(pub.refused, 0)
        for r in readers:
            await r.ws.close()

    async def test_frozen_server_acks_time_out_and_are_sent_again(self):
        # SIGSTOP: the connection stays up but nothing is acknowledged. Publishes time out
        # (jetstream_ack_timeout_ms), the API answers 503 from then on, and once the server runs again
        # the pushes accepted before are sent again (the same message ids): each reaches every client
        # once, in the order the API accepted them.
        if not JETSTREAM:
            self.skipTest("JetStream off: no acks")
        b = self.node("--jetstream-ack-timeout-ms", "300")
        c = self.node()
        room = "frozen"
        readers = []
        for node in (b, c):
            r = GoPushReader(await ws_connect(node.ws_url), room)
            await join(r.ws, room)
            readers.append(r)
        await warm_up([b], room, readers)
        pub = Publisher(b, room, "fz")
        task = asyncio.create_task(pub.run(tolerate_refusals=True))
        await pub.wait_accepted(10)
        self.nats.proc.send_signal(signal.SIGSTOP)
        try:
            while pub.refused == 0:  # an ack timed out: room pushes are refused now
                await asyncio.sleep(0.05)
            await b.await_stat("jsPublishRetries", lambda v: v > 0, timeout=60)
        finally:
            self.nats.proc.send_signal(signal.SIGCONT)
        await b.await_stat("jsHistoryOk", lambda v: v == 1, timeout=60)
        await pub.wait_accepted(len(pub.accepted) + 10)
        pub.stopping.set()
        await task
        for r in readers:
            await r.read_until(ends([pub.end]), timeout=120)
            self.assertEqual(r.items, pub.accepted + [pub.end])
            await r.ws.close()
        self.assertEqual((await b.astats())["jsPublishFailed"], 0)

    async def test_node_restarted_replays_from_the_stream(self):
        a, c = self.node(), self.node()
        room = "restart"
        reader = GoPushReader(await ws_connect(c.ws_url), room)
        await join(reader.ws, room)
        await warm_up([a], room, [reader])
        for i in range(5):
            await push_ok(a, room, [{"i": i}])
        await reader.read_until(lambda items: len(items) >= 5)
        since, epoch = reader.seq, reader.epoch
        await reader.ws.close()
        # C dies (SIGKILL) and comes back as a new process with an empty ring.
        c.proc.kill()
        c.wait()
        self.nodes.remove(c)  # killed on purpose: not a failure
        missed = [{"i": i} for i in range(5, 12)]
        for item in missed:
            await push_ok(a, room, [item])
        c2 = self.node()
        moved = GoPushReader(await ws_connect(c2.ws_url), room)
        moved.seq = since
        await join_since(moved.ws, room, since, epoch if JETSTREAM else None)
        replayed, marker = await moved.until_joined()
        self.assertTrue(marker["recovered"], marker)
        self.assertEqual(replayed, missed)
        await push_ok(a, room, ["live"])
        await moved.read_until(ends(["live"]))
        self.assertEqual(moved.items, missed + ["live"])
        stats = await c2.astats()
        if JETSTREAM:
            self.assertGreaterEqual(stats["jsReplaysStream"], 1)
        await moved.ws.close()


    async def test_worker_processes_replay(self):
        # --workers: the bridge is a process of its own and the shards are in two others; the
        # replay requests and answers cross processes through the shared ring.
        a, b = self.node(threads=1), self.node("--workers", "2", threads=1)
        room = "workers"
        reader = GoPushReader(await ws_connect(a.ws_url), room)
        await join_since(reader.ws, room, None)
        await reader.until_joined()
        for i in range(5):
            await push_ok(a, room, [i])
        await reader.read_until(lambda items: len(items) >= 5)
        since, epoch = reader.seq, reader.epoch
        await reader.ws.close()
        for i in range(5, 12):
            await push_ok(a, room, [i])
        for _ in range(4):  # several connections: they land on either worker
            moved = GoPushReader(await ws_connect(b.ws_url), room)
            moved.seq = since
            await join_since(moved.ws, room, since, epoch if JETSTREAM else None)
            replayed, marker = await moved.until_joined()
            self.assertTrue(marker["recovered"], marker)
            self.assertEqual(replayed, list(range(5, 12)))
            await moved.ws.close()


class StreamUnavailableTest(unittest.IsolatedAsyncioTestCase):
    """Nodes with JetStream on against a nats-server without JetStream: NATS answers, the stream does
    not. Room pushes are refused with 503 and a JSON error naming the history (counted), pushes to
    everyone still go, and a JOIN with since is answered at once, recovered:false."""

    async def test_room_pushes_refused_while_the_stream_does_not_answer(self):
        if not JETSTREAM:
            self.skipTest("JetStream off: nothing to refuse")
        require_nats_server()
        with NatsServer(cluster=False) as nats:  # no -js
            with Server(*nats_flags(nats), *history_flags(), threads=2) as node:
                await node.await_stat("clusterConnected", lambda v: v == 1, timeout=30)
                stats = await node.astats()
                self.assertEqual((stats["jsEnabled"], stats["jsHistoryOk"]), (1, 0))
                status, body = await node.apush_room("r", ["x"])
                self.assertEqual(status, 503)
                self.assertIn("cluster history unreachable", body["error"])
                status, body = await node.apush_all(["y"])
                self.assertEqual(status, 200, body)
                self.assertGreaterEqual((await node.astats())["publishRefusedCluster"], 1)
                ws = GoPushReader(await ws_connect(node.ws_url), "r")
                await join_since(ws.ws, "r", 5, "0123456789abcdef")
                replayed, marker = await ws.until_joined()
                self.assertEqual((replayed, marker["recovered"]), ([], False))
                await ws.ws.close()


if __name__ == "__main__":
    unittest.main()
