"""Nano/Pomelo clients on /nano (docs/nano.md): the handshake (good, refused, data before the ack),
heartbeats both ways and the kick of a silent client, route compression both ways, Nano's chat flow
(room.join, onMembers, onNewUser, room.message -> onMessage) with Pomelo and go-push members in one
room, pushes from the HTTP API reaching both kinds, unknown routes, malformed packets and SIGTERM:
every server-initiated close is preceded by a kick packet with the reason."""

import asyncio
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, collect_items, join, ping, ws_connect  # noqa: E402
from nano_client import NanoClient, WebHeartbeatClient, cesu8, nano_connect  # noqa: E402
import pomelo  # noqa: E402


def nano_url(server):
    return f"ws://127.0.0.1:{server.ws_port}/nano"


class HandshakeTest(unittest.IsolatedAsyncioTestCase):
    async def test_handshake_dict_and_refusals(self):
        with Server("--nano-heartbeat-s", 7, threads=2) as server:
            client = await NanoClient.connect(nano_url(server))
            response = await client.handshake(user={"name": "ann"})
            self.assertEqual(response["code"], 200, response)
            sys_ = response["sys"]
            self.assertEqual(sys_["heartbeat"], 7)
            self.assertIsInstance(sys_["servertime"], int)
            self.assertEqual(sys_["dict"], {"room.join": 1, "room.message": 2, "onMembers": 3, "onNewUser": 4,
                                            "onMessage": 5, "onPush": 6})
            # Served after the ack: a request gets its response.
            answer = await client.request("room.join", {"room": "hs", "uid": "ann"})
            self.assertEqual(answer, {"code": 0, "result": "success"})
            await client.close()

            for kw, code in (({"version": "x"}, 501), ({"client_type": ""}, 501), ({"version": ""}, 501)):
                refused = await NanoClient.connect(nano_url(server))
                response = await refused.handshake(**kw)
                self.assertEqual(response, {"code": code}, kw)
                kicks, close_code, _ = await refused.closed()
                self.assertEqual(len(kicks), 1, kicks)
                self.assertIn("handshake refused", kicks[0])
                self.assertEqual(close_code, 1008)

            # Not JSON at all: 500.
            bad = await NanoClient.connect(nano_url(server))
            await bad.send(pomelo.encode_packet(pomelo.HANDSHAKE, b"{nope"))
            response = (await bad.next("handshake"))[1]
            self.assertEqual(response, {"code": 500})
            kicks, close_code, _ = await bad.closed()
            self.assertIn("bad handshake", kicks[0])

            # The go-push path is untouched, and /nano is not it.
            ws = await ws_connect(server.ws_url)
            await ping(ws)
            await ws.close()

    async def test_data_before_ack_is_kicked(self):
        with Server(threads=1) as server:
            client = await NanoClient.connect(nano_url(server))
            client.auto_ack = False
            response = await client.handshake()
            self.assertEqual(response["code"], 200)
            await client.send(client.session.notify("room.message", b'{"content":"early"}'))
            kicks, close_code, _ = await client.closed()
            self.assertEqual(kicks, ["data before handshake ack"])
            self.assertEqual(close_code, 1008)

    async def test_disabled_path(self):
        with Server("--nano-path", "none", threads=1) as server:
            import websockets
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as raised:
                await ws_connect(nano_url(server))
            self.assertEqual(raised.exception.status_code, 404)


class HeartbeatTest(unittest.IsolatedAsyncioTestCase):
    async def test_heartbeats_and_silence_kick(self):
        with Server("--nano-heartbeat-s", 1, threads=2) as server:
            silent = await nano_connect(nano_url(server))
            active = await nano_connect(nano_url(server))

            async def keep_beating():
                for _ in range(8):
                    await active.send(pomelo.HEARTBEAT_PACKET)
                    await asyncio.sleep(0.4)

            # Pomelo's and Nano's JS clients only answer: a heartbeat `heartbeat` seconds after each of ours.
            answerer = await nano_connect(nano_url(server))

            async def answer_beats():
                loop = asyncio.get_running_loop()
                end = loop.time() + 3.5
                while loop.time() < end:
                    await answerer.next("heartbeat", timeout=5)
                    await asyncio.sleep(1)
                    await answerer.send(pomelo.HEARTBEAT_PACKET)

            beater = asyncio.ensure_future(keep_beating())
            answering = asyncio.ensure_future(answer_beats())
            # The silent client gets the server's heartbeats, then a kick at 3x the interval after its
            # last bytes (the ack), give or take a 100 ms tick.
            loop = asyncio.get_running_loop()
            silent_since = loop.time()
            kicks, close_code, reason = await silent.closed(timeout=10)
            silent_for = loop.time() - silent_since
            self.assertGreaterEqual(silent_for, 2.8)
            self.assertLess(silent_for, 5.0)
            self.assertGreaterEqual(silent.heartbeats, 2)
            self.assertEqual(kicks, ["heartbeat timeout"])
            self.assertEqual((close_code, reason), (1001, "heartbeat timeout"))
            await beater
            await answering
            self.assertEqual((await answerer.request("room.join", {"room": "hb"}))["code"], 0)
            await answerer.close()
            # The one that beats is still served, and heard the server's heartbeats too.
            answer = await active.request("room.join", {"room": "hb"})
            self.assertEqual(answer["code"], 0)
            self.assertGreaterEqual(active.heartbeats, 2)
            stats = await server.astats()
            self.assertGreaterEqual(stats["heartbeatTimeouts"], 1, stats)
            await active.close()


    async def test_web_client_heartbeat_timer_stays_connected(self):
        # Pomelo's and Nano's web clients beat only from their own timer and ignore the server
        # heartbeats that arrive while it is pending, so an idle one may beat only every 2 intervals
        # (tests/lib/nano_client.py, WebHeartbeatClient). Held idle for 12 intervals of 1 s, such
        # clients are neither kicked nor left without a server heartbeat for their 2 s timeout.
        with Server("--nano-heartbeat-s", 1, threads=2) as server:
            clients = [WebHeartbeatClient(await nano_connect(nano_url(server))) for _ in range(3)]
            await asyncio.gather(*(c.run(12.0) for c in clients))
            for i, c in enumerate(clients):
                sent_gaps = [round(b - a, 2) for a, b in zip(c.sent_at, c.sent_at[1:])]
                what = f"client {i}: sent every {sent_gaps}, ignored {c.ignored} of {len(c.server_beats_at)}"
                kicks = [e[1] for e in c.client.events if e[0] == "kick"]
                self.assertEqual(kicks, [], what)
                self.assertIsNone(c.client.ws.close_code, what)
                self.assertFalse(c.gave_up, what)
                self.assertGreaterEqual(len(c.sent_at), 4, what)
                self.assertGreaterEqual(len(c.server_beats_at), 10, what)
                c.stop()
                self.assertEqual((await c.client.request("room.join", {"room": "idle"}))["code"], 0, what)
                await c.client.close()
            self.assertEqual((await server.astats())["heartbeatTimeouts"], 0)


class ChatTest(unittest.IsolatedAsyncioTestCase):
    async def test_chat_flow_pomelo_and_go_push(self):
        # One shard: onMembers lists this shard's members, so all are on it here.
        with Server(threads=1) as server:
            gopush = await ws_connect(server.ws_url)
            await join(gopush, "chat")
            ann = await nano_connect(nano_url(server))
            bob = await nano_connect(nano_url(server))

            self.assertEqual(await ann.request("room.join", {"room": "chat", "uid": "ann"}),
                             {"code": 0, "result": "success"})
            self.assertEqual(await ann.push("onMembers"), {"members": []})
            self.assertEqual(await ann.push("onNewUser"), {"content": "New user: ann", "uid": "ann"})

            self.assertEqual(await bob.request("room.join", {"room": "chat", "nickname": "bob"}),
                             {"code": 0, "result": "success"})
            self.assertEqual(await bob.push("onMembers"), {"members": ["ann"]})
            self.assertEqual(await ann.push("onNewUser"), {"content": "New user: bob", "uid": "bob"})
            items, _ = await collect_items(gopush, 2)
            self.assertEqual(items, [{"route": "onNewUser", "data": {"content": "New user: ann", "uid": "ann"}},
                                     {"route": "onNewUser", "data": {"content": "New user: bob", "uid": "bob"}}])

            # room.message (a notify, its route compressed): onMessage to every Pomelo member, the
            # item to the go-push member.
            await bob.notify("room.message", {"name": "bob", "content": "hi"})
            for client in (ann, bob):
                event = await client.next("push", route="onMessage")
                self.assertEqual(event[2].json(), {"name": "bob", "content": "hi"})
                self.assertTrue(event[2].route_compressed)  # compressed by the server (dict code 5)
            items, _ = await collect_items(gopush, 1)
            self.assertEqual(items, [{"route": "onMessage", "data": {"name": "bob", "content": "hi"}}])

            # An uncompressed route is accepted too; as a request it is answered {"code":0}.
            packet = pomelo.encode_data_packet(pomelo.REQUEST, 77, "room.message", b'{"content":"plain"}', None)
            await ann.send(packet)
            event = await ann.next("response", msg_id=77)
            self.assertEqual(event[2].json(), {"code": 0})
            for client in (ann, bob):
                self.assertEqual(await client.push("onMessage"), {"content": "plain"})
            items, _ = await collect_items(gopush, 1)
            self.assertEqual(items, [{"route": "onMessage", "data": {"content": "plain"}}])

            # A push from the HTTP API reaches both kinds: Pomelo clients as onPush with the data object.
            status, body = await server.apush_room("chat", ["x", {"k": 1}])
            self.assertEqual(status, 200, body)
            for client in (ann, bob):
                payload = await client.push("onPush")
                self.assertEqual(payload["items"], ["x", {"k": 1}])
                self.assertEqual(payload["room"], "chat")
                self.assertEqual(payload["seq"], body["seq"])
            items, _ = await collect_items(gopush, 2)
            self.assertEqual(items, ["x", {"k": 1}])

            # The API may address Pomelo routes: {"route":R,"data":D} items become pushes on R; a
            # route over 255 bytes is no route (the item stays in onPush's items).
            long_route = {"route": "r" * 300, "data": 1}
            status, body = await server.apush_room("chat", [{"route": "onMessage", "data": {"content": "api"}}, "y",
                                                            long_route])
            self.assertEqual(status, 200, body)
            self.assertEqual(await ann.push("onMessage"), {"content": "api"})
            self.assertEqual((await ann.push("onPush"))["items"], ["y", long_route])

            # Unknown routes: a request gets a 404 response; a notify is dropped.
            await ann.notify("no.such", {})
            answer = await ann.request("no.such", {"a": 1})
            self.assertEqual(answer["code"], 404, answer)
            self.assertEqual(answer["error"], "no_handler")
            # room.message before room.join: an error response to a request.
            carl = await nano_connect(nano_url(server))
            answer = await carl.request("room.message", {"content": "who am I"})
            self.assertEqual((answer["code"], answer["error"]), (400, "not_in_room"))

            # Leave on close: bob goes, then a push reaches ann only once more (no error either way).
            await bob.close()
            await server.await_stat("onlineConnections", lambda v: v == 3)
            await ann.notify("room.message", {"content": "bye"})
            self.assertEqual(await ann.push("onMessage"), {"content": "bye"})
            await ann.close()
            await carl.close()
            await gopush.close()

    async def test_cesu8_text_from_web_clients(self):
        # Web clients write an emoji as two CESU-8 surrogate halves (ed a0 bd ed b8 80 for U+1F600):
        # the server joins them into the real character (f0 9f 98 80) before parsing or forwarding, so
        # Pomelo and go-push members get it intact; a lone half becomes U+FFFD.
        with Server(threads=1) as server:
            gopush = await ws_connect(server.ws_url)
            await join(gopush, "emoji")
            ann = await nano_connect(nano_url(server))
            # The handshake's user object and room.join's payload are CESU-8 too.
            bob = await NanoClient.connect(nano_url(server))
            await bob.send(pomelo.encode_packet(
                pomelo.HANDSHAKE, cesu8(json.dumps({"sys": {"type": "js-websocket", "version": "0.0.1"},
                                                    "user": {"name": "bob \U0001F600"}}, ensure_ascii=False))))
            self.assertEqual((await bob.next("handshake"))[1]["code"], 200)
            for client, uid in ((ann, "ann"), (bob, "bob \U0001F600")):
                msg_id, packet = client.session.request(
                    "room.join", cesu8(json.dumps({"room": "emoji", "uid": uid}, ensure_ascii=False)))
                await client.send(packet)
                self.assertEqual((await client.next("response", msg_id=msg_id))[2].json()["code"], 0)
            self.assertEqual(await bob.push("onMembers"), {"members": ["ann"]})
            items, _ = await collect_items(gopush, 2)
            self.assertEqual(items[1]["data"]["uid"], "bob \U0001F600")

            def chat(text):
                return cesu8(json.dumps({"name": "bob", "content": text}, ensure_ascii=False))

            emoji = "hi \U0001F600!"
            self.assertIn(b"\xed\xa0\xbd\xed\xb8\x80", chat(emoji))
            cases = [("notify", emoji, emoji), ("request", emoji, emoji),
                     ("notify", "lone \ud83d high", "lone \ufffd high"),
                     ("request", "lone \ude00 low", "lone \ufffd low"),
                     ("notify", "low \ude00\ud83d then high", "low \ufffd\ufffd then high")]
            for kind, sent, delivered in cases:
                if kind == "notify":
                    await bob.send(bob.session.notify("room.message", chat(sent)))
                else:
                    msg_id, packet = bob.session.request("room.message", chat(sent))
                    await bob.send(packet)
                    self.assertEqual((await bob.next("response", msg_id=msg_id))[2].json(), {"code": 0})
                for client in (ann, bob):
                    event = await client.next("push", route="onMessage")
                    self.assertEqual(event[2].json(), {"name": "bob", "content": delivered}, (kind, sent))
                    self.assertIn(delivered.encode(), event[2].payload)  # UTF-8, not escaped or CESU-8
                items, _ = await collect_items(gopush, 1)
                self.assertEqual(items, [{"route": "onMessage", "data": {"name": "bob", "content": delivered}}],
                                 (kind, sent))

            # What is still refused: a request gets its error, a notify is counted as dropped (and
            # summarised in the shard's limits line); the connection stays.
            before = (await server.astats())["nanoNotifiesDropped"]
            msg_id, packet = bob.session.request("room.message", b"{not json")
            await bob.send(packet)
            answer = (await bob.next("response", msg_id=msg_id))[2].json()
            self.assertEqual(answer["code"], 400, answer)
            await bob.send(bob.session.notify("room.message", b"{not json"))
            await bob.send(bob.session.notify("no.such.route", b"{}"))
            carl = await nano_connect(nano_url(server))
            await carl.send(carl.session.notify("room.message", b'{"content":"not in a room"}'))
            await server.await_stat("nanoNotifiesDropped", lambda v: v == before + 3)
            self.assertEqual((await bob.request("room.join", {"room": "emoji"}))["code"], 0)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while "Nano notifies dropped" not in server.log() and loop.time() < deadline:
                await asyncio.sleep(0.05)
            self.assertRegex(server.log(), r"limits hit: .*\d+ Nano notifies dropped")
            metrics = await asyncio.to_thread(server.api, "GET", "/metrics")
            self.assertIn("ringcast_nano_notifies_dropped_total", str(metrics))
            for client in (ann, bob, carl):
                await client.close()
            await gopush.close()

    async def test_go_push_recovery_in_a_room_with_pomelo_members(self):
        # A go-push JOIN with `since` replays what Pomelo clients published (the routed items as they
        # are) while the Pomelo member keeps getting them live.
        with Server(threads=1) as server:
            ann = await nano_connect(nano_url(server))
            self.assertEqual((await ann.request("room.join", {"room": "rec", "uid": "ann"}))["code"], 0)
            await ann.push("onNewUser")
            status, first = await server.apush_room("rec", ["start"])
            self.assertEqual(status, 200)
            await ann.push("onPush")
            for i in range(3):
                await ann.notify("room.message", {"i": i})
                self.assertEqual(await ann.push("onMessage"), {"i": i})
            ws = await ws_connect(server.ws_url)
            await ws.send(json.dumps({"type": "JOIN", "data": {"room": "rec", "since": first["seq"]}}))
            replayed = []
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if msg["type"] == "JOINED":
                    self.assertTrue(msg["data"]["recovered"], msg)
                    break
                replayed += msg["data"]["items"]
            self.assertEqual(replayed, [{"route": "onMessage", "data": {"i": i}} for i in range(3)])
            # Live for both from here.
            await ann.notify("room.message", {"i": 3})
            self.assertEqual(await ann.push("onMessage"), {"i": 3})
            items, _ = await collect_items(ws, 1)
            self.assertEqual(items, [{"route": "onMessage", "data": {"i": 3}}])
            await ann.close()
            await ws.close()

    async def test_push_all_and_two_shards(self):
        with Server(threads=2) as server:
            clients = [await nano_connect(nano_url(server)) for _ in range(4)]
            for i, c in enumerate(clients):
                self.assertEqual((await c.request("room.join", {"room": "wide", "uid": i}))["code"], 0)
            gopush = await ws_connect(server.ws_url)
            await join(gopush, "wide")
            await clients[0].notify("room.message", {"content": "to all shards"})
            for c in clients:
                self.assertEqual(await c.push("onMessage"), {"content": "to all shards"})
            items, _ = await collect_items(gopush, 1)
            self.assertEqual(items, [{"route": "onMessage", "data": {"content": "to all shards"}}])
            status, _ = await server.apush_all([{"everyone": True}])
            self.assertEqual(status, 200)
            for c in clients:
                self.assertEqual((await c.push("onPush"))["items"], [{"everyone": True}])
            for c in clients:
                await c.close()
            await gopush.close()

    async def test_user_push_reaches_a_pomelo_member_bound_by_room_join(self):
        # With user_bind_command, room.join's uid binds like a go-push BIND: POST /push/user reaches it.
        with Server("--user-bind-command", threads=2) as server:
            ann = await nano_connect(nano_url(server))
            self.assertEqual((await ann.request("room.join", {"room": "u", "uid": "ann"}))["code"], 0)
            other = await nano_connect(nano_url(server))
            self.assertEqual((await other.request("room.join", {"room": "u", "uid": "bob"}))["code"], 0)
            status, body = await asyncio.to_thread(
                server.api, "POST", "/push/user", '{"uid":"ann","items":["for ann"]}',
                {"Content-Type": "application/json"})
            self.assertEqual(status, 200, body)
            self.assertEqual((await ann.push("onPush"))["items"], ["for ann"])
            status, _ = await asyncio.to_thread(
                server.api, "POST", "/push/user", '{"uid":"bob","items":["for bob"]}',
                {"Content-Type": "application/json"})
            self.assertEqual(status, 200)
            self.assertEqual((await other.push("onPush"))["items"], ["for bob"], "bob got nothing of ann's")
            await ann.close()
            await other.close()


class ErrorsTest(unittest.IsolatedAsyncioTestCase):
    async def test_malformed_packets_are_kicked(self):
        with Server(threads=1) as server:
            cases = [
                (b"\x09\x00\x00\x00", "bad packet", 1002),                       # unknown packet type
                (b"\x04\x00\x00\x04\x00\x01\xc8r", "bad message", 1002),         # route length past the end
                (b"\x04\x00\x00\x02\x08\x00", "bad message", 1002),              # message type 4
                (b"\x04\x00\x00\x05", "bad packet", 1002),                       # packet cut short
                (b"\x05\x00\x00\x02{}", "unexpected kick", 1002),
            ]
            for data, reason, code in cases:
                client = await nano_connect(nano_url(server))
                await client.send(data)
                kicks, close_code, _ = await client.closed()
                self.assertEqual(len(kicks), 1, (data, kicks))
                self.assertIn(reason, kicks[0], data)
                self.assertEqual(close_code, code, data)
            # A text message is not Pomelo.
            client = await nano_connect(nano_url(server))
            await client.ws.send("hello")
            kicks, close_code, _ = await client.closed()
            self.assertEqual(close_code, 1003)
            self.assertIn("binary", kicks[0])
            stats = await server.astats()
            self.assertEqual(stats["onlineConnections"], 0, stats)

    async def test_slow_consumer_is_kicked(self):
        flags = ["--out-queue-bytes-max", 65536, "--api-body-bytes-max", 32768, "--merge-frame-bytes-max", 32768]
        with Server(*flags, threads=1) as server:
            # websockets stops reading the socket once max_queue messages wait unread.
            # (Without permessage-deflate: these repetitive items would compress ~100x and the
            # backlog would take far longer to pass the bound.)
            slow = await NanoClient.connect(nano_url(server), max_queue=1, read_limit=4096, compression=None)
            self.assertEqual((await slow.handshake())["code"], 200)
            self.assertEqual((await slow.request("room.join", {"room": "slow", "uid": "s"}))["code"], 0)
            item = "x" * 1000
            for i in range(320):
                status, _ = await server.apush_room("slow", [[i, j, item] for j in range(25)])
                self.assertEqual(status, 200)
                if i % 20 == 0 and (await server.astats())["closeSlowConsumer"] >= 1:
                    break
            await server.await_stat("closeSlowConsumer", lambda v: v >= 1, timeout=30)
            kicks, close_code, _ = await slow.closed(timeout=30)
            self.assertEqual(len(kicks), 1, kicks)
            self.assertTrue(kicks[0].startswith("slow consumer"), kicks)
            self.assertEqual(close_code, 1008)

    async def test_sigterm_kicks_then_closes(self):
        server = Server(threads=2)
        server.start()
        try:
            clients = [await nano_connect(nano_url(server)) for _ in range(3)]
            server.signal(signal.SIGTERM)
            for c in clients:
                kicks, close_code, reason = await c.closed()
                self.assertEqual(kicks, ["server shutting down"])
                self.assertEqual(close_code, 1001)
            self.assertEqual(await asyncio.to_thread(server.wait), 0)
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
