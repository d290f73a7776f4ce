"""examples/nano_handlers: Nano/Pomelo clients through the embedding API. A handshake hook refuses a
banned user (501, kick, close); a handler registered for the route "echo.say" answers a request through
Session::reply (the response carries the request's id) and a notify as a push on the route; a handler
that does not answer leaves the engine to answer {"code":500,"error":"no_reply"}; SIGTERM kicks."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import ExampleProgram  # noqa: E402
from nano_client import NanoClient, nano_connect  # noqa: E402


class NanoEmbedTest(unittest.IsolatedAsyncioTestCase):
    async def test_handlers_and_handshake_hook(self):
        async with ExampleProgram("RINGCAST_NANO_EXAMPLE_BIN", "nano_handlers") as program:
            line = program.first_line
            m = re.search(r"serving (ws://127\.0\.0\.1:\d+/nano)", line)
            self.assertIsNotNone(m, line)
            url = m.group(1)

            banned = await NanoClient.connect(url)
            self.assertEqual(await banned.handshake(user={"banned": True}), {"code": 501})
            kicks, code, _ = await banned.closed()
            self.assertEqual(kicks, ["handshake refused: banned"])
            self.assertEqual(code, 1008)

            client = await nano_connect(url, user={"name": "ann"})
            self.assertEqual((await client.request("room.join", {"room": "e", "uid": "ann"}))["code"], 0)
            answer = await client.request("echo.say", {"text": "hello"})
            self.assertEqual(answer, {"code": 0, "route": "echo.say", "uid": "ann", "echo": {"text": "hello"}})
            self.assertEqual(await client.push("onEcho"), {"pushed": True})
            # A notify: the handler's reply is a push on the route.
            await client.notify("echo.say", [1, 2])
            self.assertEqual((await client.push("echo.say"))["echo"], [1, 2])
            # A handler that does not answer a request.
            answer = await client.request("echo.whoami", {})
            self.assertEqual((answer["code"], answer["error"]), (500, "no_reply"))

            program.stop()
            kicks, code, _ = await client.closed()
            self.assertEqual((kicks, code), (["server shutting down"], 1001))
            text = await program.finish()  # exit 0, no sanitizer report
            self.assertIn("nano_handlers: stopped", text)


if __name__ == "__main__":
    unittest.main()
