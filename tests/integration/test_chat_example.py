"""examples/chat (docs/embedding.md): a chat server on the embedding API. Its JOIN rule refuses rooms
not named chat-*, its handlers answer NICK and SAY (SAY publishes into the room through the engine),
unknown types stay ignored, and its lifecycle says goodbye to every client before the shutdown that
closes them with 1001, then prints a summary from the stats snapshot. An SSE subscriber passes the
same JOIN rule before its stream starts (403 with the rule's reason), gets the room's pushes, and the
goodbye and a close event at the shutdown."""

import asyncio
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import ExampleProgram, command, join, ping, push_items, recv_json, ws_connect  # noqa: E402
from stream_client import SseClient  # noqa: E402


def next_of(sse, kind):
    """The next SSE event of `kind` (others skipped)."""
    while True:
        e = sse.next_event()
        assert e is not None, "stream ended"
        if e["event"] == kind:
            return e


class ChatExampleTest(unittest.IsolatedAsyncioTestCase):
    async def test_chat_flow_rules_and_lifecycle(self):
        async with ExampleProgram("RINGCAST_CHAT_BIN", "chat") as program:
            line = program.first_line
            m = re.search(r"serving ws://127\.0\.0\.1:(\d+)/connect", line)
            self.assertIsNotNone(m, line)
            url = f"ws://127.0.0.1:{m.group(1)}/connect"
            ann, bob = await ws_connect(url), await ws_connect(url)
            await join(ann, "chat-lobby")
            await join(bob, "chat-lobby")
            port = int(m.group(1))
            refused = await asyncio.to_thread(SseClient, port, "/sse?room=secret")
            self.assertEqual(refused.status, 403)
            self.assertEqual(refused.error_body(), {"error": "only rooms named chat-* exist here"})
            refused.close()
            sse = await asyncio.to_thread(SseClient, port, "/sse?room=chat-lobby")
            self.assertEqual(sse.status, 200)
            self.assertEqual((await asyncio.to_thread(next_of, sse, "joined"))["data"]["room"], "chat-lobby")

            # The application's JOIN rule.
            await bob.send(command("JOIN", room="secret"))
            msg = await recv_json(bob)
            self.assertEqual(msg["type"], "ERROR")
            self.assertEqual(msg["data"]["code"], "forbidden_room")
            self.assertEqual(msg["data"]["message"], "only rooms named chat-* exist here")

            # Handlers: NICK answers, SAY publishes to the room and answers with the seq.
            await ann.send(command("NICK", name="ann"))
            self.assertEqual(await recv_json(ann), {"type": "NICK", "data": {"ok": True}})
            await ann.send(command("SAY", room="chat-lobby", text='hi "all"'))
            got = {}
            for ws, name in ((ann, "ann"), (bob, "bob")):
                for _ in range(2 if ws is ann else 1):
                    msg = await recv_json(ws)
                    got.setdefault(name, []).append(msg)
            said = [m for m in got["ann"] if m["type"] == "SAY"]
            self.assertEqual(len(said), 1)
            self.assertTrue(said[0]["data"]["ok"])
            pushes = [m for m in got["ann"] if m["type"] == "PUSH"] + got["bob"]
            for p in pushes:
                self.assertEqual(push_items(p), [{"from": "ann", "text": 'hi "all"'}])
                self.assertEqual(p["data"]["seq"], said[0]["data"]["seq"])
            e = await asyncio.to_thread(next_of, sse, "push")
            self.assertEqual((e["data"]["items"], e["id"]), ([{"from": "ann", "text": 'hi "all"'}],
                                                            str(said[0]["data"]["seq"])))

            # Bad input gets the application's errors; SAY into a room not joined is refused.
            await bob.send(command("SAY", room="chat-other", text="x"))
            self.assertEqual((await recv_json(bob))["data"]["code"], "not_in_room")
            await bob.send(command("NICK", name=""))
            self.assertEqual((await recv_json(bob))["data"]["code"], "bad_name")
            await bob.send(command("WHATEVER", x=1))  # no handler: ignored, like go-push
            await ping(bob)

            # Lifecycle: the goodbye reaches everyone before the 1001 close; the summary is printed.
            program.stop()
            for ws in (ann, bob):
                self.assertEqual(push_items(await recv_json(ws)), [{"from": "server", "text": "going down, bye"}])
                with self.assertRaises(Exception):
                    await recv_json(ws)
                self.assertEqual(ws.close_code, 1001)
            e = await asyncio.to_thread(next_of, sse, "push")
            self.assertEqual(e["data"]["items"], [{"from": "server", "text": "going down, bye"}])
            self.assertEqual((await asyncio.to_thread(next_of, sse, "close"))["data"]["reason"], "server shutting down")
            sse.close()
            rest = await program.finish()  # exit 0, no sanitizer report
            summary = re.search(r"chat: stopped after (\d+) messages, (\d+) items delivered", rest)
            self.assertIsNotNone(summary, rest)
            self.assertEqual(summary.group(1), "1")
            self.assertGreaterEqual(int(summary.group(2)), 4)


if __name__ == "__main__":
    unittest.main()
