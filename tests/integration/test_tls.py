"""TLS on the listeners (issue 16), with clients nobody here wrote: python3-websockets over wss://,
curl over https:// (push API and an SSE stream), Python's ssl module for what only a raw TLS client can
show (the certificate served, TLS 1.2, ALPN, session resumption). A test CA and certificates are made
with the openssl CLI (tests/lib/testca.py). Also: a certificate the client does not trust is refused;
SIGHUP serves a new certificate to new connections while open ones keep receiving (one process and
--workers); bad start-up files exit 2; and the hostile cases: stalled handshakes, random bytes,
truncated and oversized ClientHellos, plain HTTP sent to the TLS port."""

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, command, run_ringcast  # noqa: E402
from testca import TestCa  # noqa: E402

import websockets  # noqa: E402

CA = None


def setUpModule():
    global CA
    CA = TestCa()


def tearDownModule():
    CA.cleanup()


def tls_server(*args, cert=None, key=None, **kw):
    cert, key = cert or CA.server("server")[0], key or CA.path("server.key")
    return Server("--tls-cert-file", cert, "--tls-key-file", key, *args, ca_file=CA.ca_cert, **kw)


def client_context(ca_cert=None, **kw):
    context = ssl.create_default_context(cafile=ca_cert or CA.ca_cert)
    for name, value in kw.items():
        setattr(context, name, value)
    return context


def tls_connect(port, context=None, host="localhost", session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return (context or client_context()).wrap_socket(raw, server_hostname=host, session=session)


def served_fingerprint(port):
    """SHA-256 of the certificate a new connection is served."""
    with tls_connect(port) as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(cert):
    der = ssl.PEM_cert_to_DER_cert(open(cert).read().split("-----END CERTIFICATE-----")[0] +
                                   "-----END CERTIFICATE-----\n")
    return hashlib.sha256(der).hexdigest()


def client_hello(host="localhost"):
    """The bytes of a real ClientHello (Python's ssl over memory BIOs)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def read_until_closed(sock, timeout=10.0):
    """Everything the server sends until it closes (b'' if it closes at once); raises on a hang."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


async def join_and_ping(ws, room):
    await ws.send(command("JOIN", room=room))
    await ws.send(command("PING"))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == "PONG":
            return


async def next_push(ws, timeout=10):
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] == "PUSH":
            return msg["data"]


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=timeout)


class ClientsTest(unittest.IsolatedAsyncioTestCase):
    async def test_websockets_over_wss_with_deflate_and_curl_push_over_https(self):
        with tls_server() as server:
            self.assertTrue(server.ws_url.startswith("wss://") and server.api_url.startswith("https://"))
            url = server.ws_url.replace("127.0.0.1", "localhost")
            async with websockets.connect(url, ssl=client_context(), compression="deflate") as deflated, \
                    websockets.connect(url, ssl=client_context(), compression=None) as plain:
                self.assertIn("permessage-deflate", deflated.response_headers.get("Sec-WebSocket-Extensions", ""))
                await join_and_ping(deflated, "tls")
                await join_and_ping(plain, "tls")
                # curl, trusting the test CA, pushes over https://.
                items = [{"n": i, "text": "x" * 300} for i in range(20)]
                r = curl("--cacert", CA.ca_cert, "-X", "POST", server.api_url.replace("127.0.0.1", "localhost") +
                         "/push/room", "--data-urlencode", "room=tls", "--data-urlencode",
                         "items=" + json.dumps(items))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["ok"], True)
                for ws in (deflated, plain):
                    got = []
                    while len(got) < len(items):
                        got += (await next_push(ws))["items"]
                    self.assertEqual(got, items)
                # A large push (several TLS records per frame) arrives whole.
                big = [{"blob": "y" * 200000}]
                status, _ = await server.apush_room("tls", big)
                self.assertEqual(status, 200)
                for ws in (deflated, plain):
                    self.assertEqual((await next_push(ws, 20))["items"], big)
            stats = server.stats()
            self.assertGreaterEqual(stats["tlsHandshakes"], 3)
            self.assertEqual(stats["tlsHandshakesFailed"], 0)

    async def test_recovery_over_wss_and_the_ktls_line(self):
        with tls_server() as server:
            url = server.ws_url.replace("127.0.0.1", "localhost")
            async with websockets.connect(url, ssl=client_context()) as ws:
                await join_and_ping(ws, "resume")
                status, first = await server.apush_room("resume", ["a"])
                self.assertEqual((await next_push(ws))["items"], ["a"])
            for i in range(3):
                status, _ = await server.apush_room("resume", ["m%d" % i])
                self.assertEqual(status, 200)
            async with websockets.connect(url, ssl=client_context()) as ws:
                await ws.send(json.dumps({"type": "JOIN", "data": {"room": "resume", "since": first["seq"]}}))
                items = []
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg["type"] == "JOINED":
                        break
                    if msg["type"] == "PUSH":
                        items += msg["data"]["items"]
                self.assertTrue(msg["data"]["recovered"])
                self.assertEqual(items, ["m0", "m1", "m2"])
            # One line at start says whether the kernel offers kTLS, matching /proc (this machine: no).
            with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
                offered = "tls" in f.read().split()
            lines = [line for line in server.log().splitlines() if "kTLS" in line]
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("offers kTLS" if offered else "no tls ULP", lines[0])

    def test_curl_sse_stream_over_https(self):
        with tls_server() as server:
            base = "https://localhost:%d" % server.ws_port
            proc = subprocess.Popen(["curl", "-sS", "-N", "--cacert", CA.ca_cert, base + "/sse?room=sse"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                server.wait_stat("sseOpen", lambda v: v == 1)
                server.push_room("sse", [{"hello": "sse"}])
                deadline = time.monotonic() + 10
                lines = []
                while time.monotonic() < deadline:
                    line = proc.stdout.readline()
                    lines.append(line)
                    if '"hello":"sse"' in line:
                        break
                self.assertTrue(any('"hello":"sse"' in line for line in lines), lines)
            finally:
                proc.kill()
                proc.wait()

    async def test_a_certificate_the_client_does_not_trust_is_refused(self):
        with tls_server() as server:
            url = server.ws_url.replace("127.0.0.1", "localhost")
            with self.assertRaises(ssl.SSLCertVerificationError):
                await asyncio.wait_for(websockets.connect(url, ssl=client_context(CA.other_ca_cert)), 10)
            # The host name is checked too: the certificate is for 127.0.0.1 and localhost only.
            with self.assertRaises(ssl.SSLCertVerificationError):
                tls_connect(server.ws_port, host="example.com")
            r = curl("--cacert", CA.other_ca_cert, server.api_url.replace("127.0.0.1", "localhost") + "/stats")
            self.assertEqual(r.returncode, 60, r.stderr)  # curl: peer certificate cannot be authenticated
            # The server counts the refused handshakes (the client's alert) and keeps serving.
            server.wait_stat("tlsHandshakesFailed", lambda v: v >= 2)
            server.wait_stat("tlsOpen", lambda v: v == 1)  # (the harness's own https call for /stats)

    def test_tls12_alpn_and_session_resumption(self):
        with tls_server() as server:
            context = client_context()
            context.set_alpn_protocols(["h2", "http/1.1"])
            with tls_connect(server.ws_port, context) as s:
                self.assertEqual(s.version(), "TLSv1.3")
                self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
                s.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"HTTP/1.1 ", s.recv(4096))
                session = s.session
            # A reconnect offering the ticket resumes: no full handshake.
            with tls_connect(server.ws_port, context, session=session) as s:
                self.assertTrue(s.session_reused)
            server.wait_stat("tlsResumed", lambda v: v >= 1)
            old = client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
            with tls_connect(server.api_port, old) as s:
                self.assertEqual(s.version(), "TLSv1.2")
                s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertTrue(read_until_closed(s).startswith(b"HTTP/1.1 200"))
            # TLS 1.1 and older are refused.
            ancient = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ancient.check_hostname, ancient.verify_mode = False, ssl.CERT_NONE
            try:
                ancient.minimum_version = ancient.maximum_version = ssl.TLSVersion.TLSv1_1
                ancient.set_ciphers("ALL:@SECLEVEL=0")
            except (ValueError, ssl.SSLError):
                return  # this Python's OpenSSL cannot even offer TLS 1.1
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                tls_connect(server.ws_port, ancient).close()

    def test_an_answer_ends_with_close_notify(self):
        # A truncation is only detectable if the end of an answer is TLS's close_notify, not a bare
        # TCP FIN: an HTTP error answer, then our side's shutdown.
        with tls_server() as server:
            for port, request in ((server.ws_port, b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n"),
                                  (server.api_port, b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")):
                raw = socket.create_connection(("127.0.0.1", port), timeout=10)
                strict = client_context()
                strict.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # (Python's default ignores it)
                with strict.wrap_socket(raw, server_hostname="localhost",
                                                  suppress_ragged_eofs=False) as s:
                    s.sendall(request)
                    answer = read_until_closed(s)  # raises SSLEOFError on an EOF without close_notify
                self.assertTrue(answer.startswith(b"HTTP/1.1 4"), answer)

    def test_one_listener_only_and_go_push_server_pem(self):
        cert, key = CA.server("api-only")
        # go-push's gateway.json: serverPem/serverKey put TLS on the push API, as go-push does.
        config = os.path.join(CA.dir, "gateway.json")
        with open(config, "w") as f:
            json.dump({"serverPem": cert, "serverKey": key}, f)
        with Server("--config", config, ca_file=CA.ca_cert) as server:
            self.assertTrue(server.ws_url.startswith("ws://"), server.ws_url)
            self.assertTrue(server.api_url.startswith("https://"), server.api_url)
            self.assertEqual(server.push_all([1])[0], 200)
        with Server("--client-tls-cert-file", cert, "--client-tls-key-file", key, ca_file=CA.ca_cert) as server:
            self.assertTrue(server.ws_url.startswith("wss://") and server.api_url.startswith("http://"))
            self.assertEqual(server.push_all([1])[0], 200)

    def test_bad_files_exit_2_with_a_clear_message(self):
        cert, key = CA.server("good")
        other_cert, other_key = CA.server("other")
        garbage = os.path.join(CA.dir, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        cases = [
            (["--tls-cert-file", cert, "--tls-key-file", os.path.join(CA.dir, "missing.key")], "cannot read"),
            (["--tls-cert-file", cert, "--tls-key-file", other_key], "does not match"),
            (["--tls-cert-file", garbage, "--tls-key-file", key], "no usable PEM certificate"),
            (["--tls-cert-file", cert], "must be given together"),
            (["--api-tls-key-file", key], "must be given together"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = run_ringcast("--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", *args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(message, r.stdout + r.stderr)


class ReloadTest(unittest.IsolatedAsyncioTestCase):
    async def check_reload(self, *args, **kw):
        first_cert, first_key = CA.server("reload-a")
        live_cert, live_key = os.path.join(CA.dir, "live.crt"), os.path.join(CA.dir, "live.key")
        shutil.copy(first_cert, live_cert)
        shutil.copy(first_key, live_key)
        with tls_server(*args, cert=live_cert, key=live_key, **kw) as server:
            url = server.ws_url.replace("127.0.0.1", "localhost")
            self.assertEqual(served_fingerprint(server.ws_port), file_fingerprint(first_cert))
            async with websockets.connect(url, ssl=client_context()) as old:
                await join_and_ping(old, "reload")
                # Broken files: SIGHUP keeps the old certificate and says why.
                with open(live_key, "w") as f:
                    f.write("broken\n")
                server.signal(signal.SIGHUP)
                await asyncio.to_thread(self.wait_log, server, "TLS not reloaded")
                self.assertEqual(served_fingerprint(server.ws_port), file_fingerprint(first_cert))
                # New files: new connections get them, the open one keeps receiving.
                second_cert, second_key = CA.server("reload-b")
                shutil.copy(second_cert, live_cert)
                shutil.copy(second_key, live_key)
                server.signal(signal.SIGHUP)
                await asyncio.to_thread(self.wait_log, server, "TLS certificate and key reloaded")
                want = file_fingerprint(second_cert)
                deadline = time.monotonic() + 10
                # (In --workers mode each worker takes the files on its own SIGHUP: poll until all did.)
                seen = set()
                while time.monotonic() < deadline:
                    seen = {served_fingerprint(server.ws_port) for _ in range(8)}
                    if seen == {want}:
                        break
                    await asyncio.sleep(0.1)
                self.assertEqual(seen, {want})
                async with websockets.connect(url, ssl=client_context()) as new:
                    await join_and_ping(new, "reload")
                    status, _ = await server.apush_room("reload", [{"after": "reload"}])
                    self.assertEqual(status, 200)
                    for ws in (old, new):
                        self.assertEqual((await next_push(ws))["items"], [{"after": "reload"}])

    @staticmethod
    def wait_log(server, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while text not in server.log():
            if time.monotonic() > deadline:
                raise AssertionError("no %r in the log:\n%s" % (text, server.log()))
            time.sleep(0.02)

    async def test_sighup_reload_one_process(self):
        await self.check_reload()

    async def test_sighup_reload_with_workers(self):
        await self.check_reload("--workers", 2, threads=1)


class HostileTest(unittest.TestCase):
    def test_stalled_handshakes_are_bounded_like_slowloris(self):
        stalled = 2000
        with tls_server("--handshake-timeout-ms", 1000) as server:
            hello = client_hello()
            socks = []
            for i in range(stalled):
                s = socket.create_connection(("127.0.0.1", server.ws_port), timeout=10)
                if i % 2:
                    s.sendall(hello[:len(hello) // 2])  # half a ClientHello, then nothing
                socks.append(s)
            # Meanwhile a real client is served.
            with tls_connect(server.ws_port) as good:
                good.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"HTTP/1.1 ", good.recv(4096))
            value = server.wait_stat("tlsHandshakeTimeouts", lambda v: v >= stalled, timeout=60)
            self.assertEqual(value, stalled)
            for s in socks:
                self.assertEqual(read_until_closed(s, timeout=10), b"")
                s.close()
            server.wait_stat("tlsOpen", lambda v: v == 1)  # (the harness's own https call for /stats)

    def test_random_bytes_truncated_and_oversized_hellos_and_plain_http(self):
        with tls_server("--handshake-timeout-ms", 1000) as server:
            port = server.ws_port
            # Random bytes: refused at once (OpenSSL's verdict), the connection closed.
            for seed in range(20):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(hashlib.sha256(b"%d" % seed).digest() * 8)
                    read_until_closed(s)
            # A ClientHello cut short and the connection half-closed: nothing more will come.
            hello = client_hello()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(hello[:40])
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(read_until_closed(s), b"")
            # A handshake record announcing itself, then far more than any ClientHello: refused.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                record = b"\x16\x03\x01\x40\x00" + b"\x01" + b"\x00" * 16383
                try:
                    for _ in range(4):
                        s.sendall(record)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                read_until_closed(s)
            # Plain HTTP to the TLS port: a 400 it can read, in plain HTTP, saying what to change.
            for port_ in (server.ws_port, server.api_port):
                with socket.create_connection(("127.0.0.1", port_), timeout=10) as s:
                    s.sendall(b"GET /connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
                    answer = read_until_closed(s)
                self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)
                self.assertIn(b"use https:// or wss://", answer)
            stats = server.wait_stat("tlsPlaintextRefused", lambda v: v == 2)
            stats = server.stats()
            self.assertGreaterEqual(stats["tlsHandshakesFailed"], 21)  # 20 random + the oversized one
            server.wait_stat("tlsHandshakeTimeouts", lambda v: v == 0)
            # Still serving.
            with tls_connect(port) as good:
                good.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b"HTTP/1.1 ", good.recv(4096))


class SlowConsumerTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_tls_reader_that_stops_is_cut_counted_before_encryption(self):
        flags = ["--out-queue-bytes-max", 65536, "--api-body-bytes-max", 32768, "--merge-frame-bytes-max", 32768]
        with tls_server(*flags) as server:
            with tls_connect(server.ws_port) as stuck:
                stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stuck.sendall(b"GET /connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                self.assertIn(b"101", stuck.recv(4096))
                join = command("JOIN", room="slow").encode()
                stuck.sendall(bytes([0x81, 0x80 | len(join)]) + b"\0\0\0\0" + join)
                await server.await_stat("joins", lambda v: v >= 1)
                item = "z" * 1000
                for i in range(400):  # ~10 MB: far more than the socket buffers hide
                    status, _ = await server.apush_room("slow", [[i, j, item] for j in range(25)])
                    self.assertEqual(status, 200)
                    if server.stats()["closeSlowConsumer"]:
                        break
                await server.await_stat("closeSlowConsumer", lambda v: v == 1)
                self.assertGreater(server.stats()["framesDroppedSlow"], 0)


if __name__ == "__main__":
    unittest.main()
