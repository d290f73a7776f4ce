"""Access control (docs/security.md): the push API's bearer token (401, /health open, /metrics and
/stats with metrics_public), the API's loopback default, the browser Origin allowlist at the upgrade
(403), and signed connect tokens (401 at the upgrade; a JOIN outside the token's rooms answered with
an ERROR frame forbidden_room while the connection stays). Every refusal is counted in /stats."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (HttpConn, RawWs, Server, command, http_request, ping, recv_json,  # noqa: E402
                     run_ringcast, upgrade_request, ws_connect)

API_TOKEN = "test-api-token-0123456789"
SECRET = "0123456789abcdef0123456789abcdef-connect"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(claims, secret=SECRET, alg="HS256"):
    """An HS256 JWT, as the application's backend would mint it."""
    signing = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def bearer(token):
    return {"Authorization": "Bearer " + token}


class ApiTokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-token", API_TOKEN, threads=1).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def push(self, headers):
        return self.server.api_full("POST", "/push/all", "items=[1]",
                                    {"Content-Type": "application/x-www-form-urlencoded", **headers})

    def test_push_without_token_is_401_with_a_json_body(self):
        status, hdrs, body = self.push({})
        self.assertEqual(status, 401, body)
        self.assertIn("Bearer", body["error"])
        self.assertTrue(hdrs.get("WWW-Authenticate", "").startswith("Bearer"), hdrs)

    def test_wrong_token_and_wrong_scheme_are_401(self):
        for headers in (bearer(API_TOKEN + "x"), bearer(API_TOKEN[:-1]), {"Authorization": "Basic " + API_TOKEN},
                        {"Authorization": API_TOKEN}):
            status, _, body = self.push(headers)
            self.assertEqual(status, 401, (headers, body))

    def test_right_token_pushes(self):
        status, _, body = self.push(bearer(API_TOKEN))
        self.assertEqual(status, 200, body)
        self.assertTrue(body["ok"])

    def test_every_endpoint_but_health_needs_it(self):
        for path in ("/stats", "/metrics", "/nope"):
            status, _, body = self.server.api_full("GET", path)
            self.assertEqual(status, 401, (path, body))  # unknown paths too: nothing is revealed
        self.assertEqual(self.server.api("GET", "/health"), (200, {"ok": True}))
        self.assertEqual(self.server.api("GET", "/stats", headers=bearer(API_TOKEN))[0], 200)

    def test_keep_alive_connection_survives_a_401(self):
        with HttpConn(self.server.api_port) as conn:
            conn.send(http_request("GET", "/stats"))
            self.assertEqual(conn.read_response().status, 401)
            conn.send(http_request("GET", "/stats", headers=bearer(API_TOKEN)))
            self.assertEqual(conn.read_response().status, 200)

    def test_refusals_are_counted(self):
        before = self.server.api("GET", "/stats", headers=bearer(API_TOKEN))[1]["apiUnauthorized"]
        self.push({})
        after = self.server.api("GET", "/stats", headers=bearer(API_TOKEN))[1]["apiUnauthorized"]
        self.assertEqual(after, before + 1)


class ApiTokenOptionsTest(unittest.TestCase):
    def test_metrics_public_opens_metrics_and_stats_only(self):
        with Server("--api-token", API_TOKEN, "--metrics-public", threads=1) as server:
            self.assertEqual(server.api("GET", "/metrics")[0], 200)
            self.assertEqual(server.api("GET", "/stats")[0], 200)
            self.assertEqual(server.push_all([1])[0], 401)

    def test_token_from_a_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".token") as f:
            f.write(API_TOKEN + "\n")
            f.flush()
            with Server("--api-token-file", f.name, threads=1) as server:
                self.assertEqual(server.push_all([1])[0], 401)
                self.assertEqual(server.api("GET", "/stats", headers=bearer(API_TOKEN))[0], 200)

    def test_weak_secrets_are_refused_at_start(self):
        p = run_ringcast("--api-token", "short", "--api", "127.0.0.1:0", "--listen", "127.0.0.1:0")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("'api_token' must be at least 16 bytes", p.stderr)
        p = run_ringcast("--token-secret", "short", "--api", "127.0.0.1:0", "--listen", "127.0.0.1:0")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("'token_secret' must be at least 32 bytes", p.stderr)

    def test_api_listens_on_loopback_by_default(self):
        server = Server(threads=1)
        at = server.args.index("--api")
        server.args[at:at + 2] = ["--api-port", "0"]  # the port only: the host is the default
        with server:
            self.assertRegex(server.log(), r"push API http://127\.0\.0\.1:\d+")
        self.assertIn("--api 127.0.0.1:7799", run_ringcast("--help").stdout)


class OriginTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--allowed-origins", "https://app.example.com,https://*.corp.example", threads=1).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def upgrade(self, origin):
        extra = {"Origin": origin} if origin is not None else {}
        with HttpConn(self.server.ws_port) as conn:
            conn.send(upgrade_request(extra=extra))
            r = conn.read_response()
            if r.status != 101:
                self.assertEqual(r.header("content-type"), "application/json")
                self.assertIn("error", r.json())
                self.assertEqual(conn.read_until_closed(10), b"")
            return r

    def test_listed_origins_and_subdomains_upgrade(self):
        for origin in ("https://app.example.com", "https://a.corp.example", "https://x.y.corp.example"):
            self.assertEqual(self.upgrade(origin).status, 101, origin)

    def test_other_origins_get_403(self):
        before = self.server.stats()["originRefused"]
        for origin in ("https://evil.example", "http://app.example.com", "https://corp.example", "null"):
            r = self.upgrade(origin)
            self.assertEqual(r.status, 403, origin)
            self.assertIn("origin", r.json()["error"])
        self.assertEqual(self.server.stats()["originRefused"], before + 4)

    def test_clients_without_origin_are_not_browsers_and_upgrade(self):
        self.assertEqual(self.upgrade(None).status, 101)


class ConnectTokenTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--token-secret", SECRET, threads=1).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def refused(self, path="/connect", extra=None):
        with HttpConn(self.server.ws_port) as conn:
            conn.send(upgrade_request(path=path, extra=extra))
            r = conn.read_response()
            self.assertEqual(r.status, 401, r)
            self.assertTrue(r.header("www-authenticate").startswith("Bearer"), r)
            self.assertEqual(conn.read_until_closed(10), b"")
            return r.json()["error"]

    def test_no_token_is_401(self):
        self.assertIn("connect token required", self.refused())

    def test_bad_tokens_are_401_with_the_reason(self):
        now = int(time.time())
        self.assertIn("signature", self.refused("/connect?token=" + make_token({"sub": "a"}, secret="x" * 32)))
        self.assertIn("expired", self.refused("/connect?token=" + make_token({"exp": now - 10})))
        self.assertIn("not valid yet", self.refused("/connect?token=" + make_token({"nbf": now + 3600})))
        self.assertIn("HS256", self.refused("/connect?token=" + make_token({}, alg="none")))
        self.assertIn("malformed", self.refused("/connect?token=abc"))
        self.assertIn("malformed", self.refused(extra={"Authorization": "Bearer a.b.c"}))

    def test_refusals_are_counted(self):
        before = self.server.stats()["tokenRefused"]
        self.refused()
        self.assertEqual(self.server.stats()["tokenRefused"], before + 1)
        # ...and summarised in the shard's "limits hit" log line (the first within its 100 ms check).
        deadline = time.monotonic() + 10
        while "upgrades refused: connect token (401)" not in self.server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(self.server.log(), r"limits hit: .*\d+ upgrades refused: connect token \(401\)")

    async def test_token_in_the_query_or_header_and_rooms_it_grants(self):
        token = make_token({"sub": "ann", "exp": int(time.time()) + 600, "rooms": ["lobby", "news-*"]})
        ws = await ws_connect(self.server.ws_url + "?token=" + token)
        await ws.send(command("JOIN", room="lobby"))
        await ws.send(command("JOIN", room="news-sport"))
        await ping(ws)
        before = (await self.server.astats())["joinsForbidden"]
        await ws.send(command("JOIN", room="admin"))
        msg = await recv_json(ws)
        self.assertEqual(msg["type"], "ERROR", msg)
        self.assertEqual(msg["data"]["code"], "forbidden_room")
        self.assertEqual(msg["data"]["room"], "admin")
        await ping(ws)  # the connection is kept
        self.assertEqual((await self.server.astats())["joinsForbidden"], before + 1)
        # Pushes to the granted rooms arrive; the refused room was never joined.
        await self.server.apush_room("admin", ["secret"])
        await self.server.apush_room("news-sport", ["score"])
        msg = await recv_json(ws)
        self.assertEqual(msg["data"]["items"], ["score"])
        await ws.close()
        # The same grant by header (a non-browser client), shared with a second connection.
        other = await asyncio.to_thread(RawWs, self.server.ws_port, handshake=False)
        other.sock.sendall(upgrade_request(extra={"Authorization": "Bearer " + token}))
        self.assertTrue(other.read_http_head().startswith("HTTP/1.1 101"))
        other.send_text(command("JOIN", room="elsewhere"))
        msg = await asyncio.to_thread(other.recv_json)
        self.assertEqual(msg["data"]["code"], "forbidden_room")
        other.close()

    async def test_token_without_rooms_allows_every_room(self):
        ws = await ws_connect(self.server.ws_url + "?token=" + make_token({"sub": "bob"}))
        await ws.send(command("JOIN", room="anything"))
        await ping(ws)
        await self.server.apush_room("anything", [1])
        self.assertEqual((await recv_json(ws))["data"]["items"], [1])
        await ws.close()


if __name__ == "__main__":
    unittest.main()
