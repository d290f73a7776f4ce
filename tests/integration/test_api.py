"""Push API over real HTTP: every bad input gets the right status and a JSON {"error": ...} body;
keep-alive, pipelining, chunked bodies and Expect: 100-continue work; malformed HTTP is answered 400
and the connection closed."""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import HttpConn, Server, form, http_request  # noqa: E402

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-body-bytes-max", 1024, "--room-name-bytes-max", 128, threads=2).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def assertError(self, status, body, want_status, *, mentions=None):
        self.assertEqual(status, want_status, body)
        self.assertIsInstance(body, dict, body)
        self.assertIsInstance(body.get("error"), str, body)
        self.assertTrue(body["error"], body)
        if mentions:
            self.assertIn(mentions, body["error"])

    def post(self, path, body, headers=FORM):
        return self.server.api("POST", path, body, headers)

    def test_good_push_answers_ok(self):
        status, body = self.post("/push/room", form(room="r", items=[1, 2]))
        self.assertEqual(status, 200, body)
        self.assertIs(body["ok"], True)
        self.assertIsInstance(body["seq"], int)

    def test_form_errors(self):
        cases = [
            ("/push/room", "room=r", "items"),                            # items missing
            ("/push/room", "room=r&items=%5B1%2C", None),                 # items not JSON: "[1,"
            ("/push/room", "room=r&items=nope", None),                    # items not JSON
            ("/push/room", form(room="r", items={"a": 1}), "array"),      # not an array
            ("/push/room", form(room="r", items="5"), "array"),           # a number
            ("/push/room", form(room="r", items=[]), "empty"),            # empty array
            ("/push/room", form(items=[1]), "room"),                      # room missing
            ("/push/room", form(room="x" * 200, items=[1]), "room"),      # room over 128 bytes
            ("/push/room", form(room="", items=[1]), "room"),             # empty room
            ("/push/room", form(room="a\x01b", items=[1]), "room"),       # control character
            ("/push/room", "room=r&items=%ZZ", None),                      # broken %-escape
            ("/push/all", "foo=bar", "items"),
            ("/push/all", form(items=[]), "empty"),
        ]
        for path, body, mentions in cases:
            with self.subTest(path=path, body=body[:60]):
                status, answer = self.post(path, body)
                self.assertError(status, answer, 400, mentions=mentions)

    def test_json_body_errors(self):
        cases = [
            ("/push/room", '{"room":"r"}', "items"),
            ("/push/room", '{"room":"r","items":{"a":1}}', "array"),
            ("/push/room", '{"room":"r","items":[]}', "empty"),
            ("/push/room", '{"items":[1]}', "room"),
            ("/push/room", '{"room":5,"items":[1]}', "room"),
            ("/push/room", json.dumps({"room": "y" * 129, "items": [1]}), "room"),
            ("/push/room", '[1,2]', None),
            ("/push/room", '{"room":"r","items":[1,', None),
            ("/push/all", '{"items":"[1]"}', "array"),
        ]
        for path, body, mentions in cases:
            with self.subTest(body=body[:60]):
                status, answer = self.post(path, body, JSON)
                self.assertError(status, answer, 400, mentions=mentions)

    def test_room_at_limit_accepted(self):
        status, body = self.post("/push/room", form(room="z" * 128, items=[1]))
        self.assertEqual(status, 200, body)

    def test_unknown_path_404(self):
        for method, path in [("GET", "/nope"), ("POST", "/push"), ("POST", "/push/rooms"), ("GET", "/")]:
            with self.subTest(path=path):
                status, body = self.server.api(method, path, "" if method == "POST" else None)
                self.assertError(status, body, 404)

    def test_wrong_method_405_with_allow(self):
        status, headers, body = self.server.api_full("GET", "/push/room")
        self.assertError(status, body, 405)
        self.assertEqual(headers.get("Allow"), "POST")
        status, headers, body = self.server.api_full("POST", "/stats", "")
        self.assertError(status, body, 405)
        self.assertEqual(headers.get("Allow"), "GET")

    def test_body_too_large_413(self):
        status, body = self.post("/push/room", form(room="r", items=["x" * 2000]))
        self.assertError(status, body, 413)

    def test_unsupported_content_type_415(self):
        for ctype in ["text/plain", "multipart/form-data; boundary=x", "application/xml"]:
            with self.subTest(ctype=ctype):
                status, body = self.post("/push/room", form(room="r", items=[1]), {"Content-Type": ctype})
                self.assertError(status, body, 415)

    def test_content_type_parameters_and_case(self):
        status, body = self.post("/push/room", form(room="r", items=[1]),
                                 {"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"})
        self.assertEqual(status, 200, body)

    def test_malformed_http_400_and_close(self):
        for garbage in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
                        b"HELLO\r\n\r\n", b"GET /stats HTTP/1.1\nHost: x\n\n",
                        b"POST /push/room HTTP/1.1\r\nContent-Length: nope\r\n\r\n"]:
            with self.subTest(garbage=garbage[:20]):
                with HttpConn(self.server.api_port) as conn:
                    conn.send(garbage)
                    r = conn.read_response()
                    self.assertEqual(r.status, 400, r)
                    self.assertIn("error", r.json())
                    self.assertEqual(r.header("connection"), "close")
                    self.assertEqual(conn.read_until_closed(10), b"")

    def test_keepalive_pipelining_in_order(self):
        with HttpConn(self.server.api_port) as conn:
            conn.send(http_request("POST", "/push/room", form(room="p", items=["first"]), FORM) +
                      http_request("GET", "/nope") +
                      http_request("POST", "/push/room", form(room="p", items=["third"]), FORM))
            first, second, third = conn.read_response(), conn.read_response(), conn.read_response()
            self.assertEqual(first.status, 200, first)
            self.assertEqual(second.status, 404, second)
            self.assertEqual(third.status, 200, third)
            self.assertLess(first.json()["seq"], third.json()["seq"])
            # The connection is still good for more, after an error too.
            conn.send(http_request("GET", "/health"))
            self.assertEqual(conn.read_response().status, 200)

    def test_request_split_across_writes(self):
        with HttpConn(self.server.api_port) as conn:
            req = http_request("POST", "/push/room", form(room="s", items=[1, 2, 3]), FORM)
            for i in range(0, len(req), 7):
                conn.send(req[i:i + 7])
            r = conn.read_response()
            self.assertEqual(r.status, 200, r)

    def test_chunked_body(self):
        body = form(room="c", items=[1, 2]).encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5]), body[i:i + 5]) for i in range(0, len(body), 5))
        with HttpConn(self.server.api_port) as conn:
            conn.send(b"POST /push/room HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n")
            r = conn.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["items"], 2)

    def test_expect_100_continue_raw(self):
        body = form(room="e", items=["y" * 100]).encode()
        with HttpConn(self.server.api_port) as conn:
            conn.send(b"POST /push/room HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            interim = conn.read_response()
            self.assertEqual(interim.status, 100, interim)
            conn.send(body)
            r = conn.read_response()
            self.assertEqual(r.status, 200, r)
            # A body over the limit is refused before it is sent: no 100, a 413 at once.
            conn.send(b"POST /push/room HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
            r = conn.read_response()
            self.assertEqual(r.status, 413, r)

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_expect_100_continue_curl(self):
        # Older curls send "Expect: 100-continue" on their own for bodies over 1 KiB, newer ones only
        # past 1 MiB: ask for it. This class's server takes 1024 bytes at most, so use another one.
        with Server(threads=1) as server:
            items = json.dumps(["z" * 3000])
            p = subprocess.run(["curl", "-sS", "-v", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}",
                                "-H", "Expect: 100-continue", "--data-urlencode", f"items={items}", "--data-urlencode", "room=curl",
                                f"{server.api_url}/push/room"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Expect: 100-continue", p.stderr)
            self.assertIn("HTTP/1.1 100 Continue", p.stderr)
            body, code = p.stdout.rsplit("\n", 1)
            self.assertEqual(code, "200", p.stdout)
            self.assertIs(json.loads(body)["ok"], True)

    def test_errors_are_counted(self):
        before = self.server.stats()["apiErrors"]
        self.server.api("GET", "/nope")
        self.assertGreaterEqual(self.server.stats()["apiErrors"], before + 1)


if __name__ == "__main__":
    unittest.main()
