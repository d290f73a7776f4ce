"""ringcast-load against ringcast's own TLS (`--tls-cert-file` and `--tls-key-file`: both listeners
speak TLS, wss:// for clients and https:// for the push API), with a throw-away CA from
tests/lib/testca.py: thousands of connections over several worker processes deliver every item
exactly once, as over ws://; reconnects resume their TLS session where the server issues tickets;
a client that trusts another CA fails every connection at once, with tls_failed counted and a
nonzero exit, never a hang.

Until the server has TLS (its --help does not mention --tls-cert-file) the whole file is skipped
(exit 77). The same client paths are tested now through a TLS terminator in front of the plain
server (test_load_tool.py, TlsThroughProxyTest). No timing assertions."""

import json
import os
import re
import ssl
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import RINGCAST_BIN, Server  # noqa: E402
from testca import TestCa  # noqa: E402
from test_load_tool import run_load_urls  # noqa: E402

SKIP = 77

# What the server prints once it listens with TLS.
_SERVING_TLS = re.compile(r"serving: clients wss://[^:\s]*:(\d+)\S*, push API https://[^:\s]*:(\d+)")


def server_has_tls():
    p = subprocess.run([RINGCAST_BIN, "--help"], capture_output=True, text=True, timeout=20)
    return "--tls-cert-file" in p.stdout + p.stderr


class TlsServer(Server):
    """A ringcast whose listeners speak TLS with `cert` and `key`."""

    def __init__(self, cert, key, ca, *args, **kwargs):
        super().__init__("--tls-cert-file", cert, "--tls-key-file", key, *args, **kwargs)
        self.ca = ca

    def _read_log(self):
        for line in self.proc.stdout:
            self.log_lines.append(line)
            m = _SERVING_TLS.search(line)
            if m:
                self.ws_port, self.api_port = int(m.group(1)), int(m.group(2))
                self._ready.set()

    def urls(self):
        return ["--url", "wss://127.0.0.1:%d/connect" % self.ws_port,
                "--publish-url", "https://127.0.0.1:%d/push/room" % self.api_port]

    def stats(self):
        context = ssl.create_default_context(cafile=self.ca)
        url = "https://127.0.0.1:%d/stats" % self.api_port
        with urllib.request.urlopen(url, timeout=30, context=context) as r:
            return json.loads(r.read())


class LoadOverServerTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = TestCa()
        cls.cert, cls.key = cls.ca.server("ringcast")

    @classmethod
    def tearDownClass(cls):
        cls.ca.cleanup()

    def test_thousands_of_wss_connections_deliver_exactly_once(self):
        connections, rooms, items = 4000, 20, 1000
        # A burst of 4,000 TLS handshakes on 2 busy cores (a sanitizer build's, too): the server's
        # deadline for the upgrade request is not what this measures.
        with TlsServer(self.cert, self.key, self.ca.ca_cert, "--handshake-timeout-ms", 30000,
                       threads=2) as server:
            code, out, err, s = run_load_urls(
                server.urls(), "--ca-file", self.ca.ca_cert, "--connections", connections, "--per-proc", 1000,
                "--per-source", 2000, "--rooms", rooms, "--also-room", "everyone", "--publish-target", "rooms",
                "--publish-count", items, "--publish-rate", 4000, "--publish-conns", 3, "--pipeline", 8,
                "--connect-rate", 2000, "--timeout", 100, timeout=150)
            self.assertEqual(code, 0, out + err)
            expected = connections * items // rooms
            t, d = s["tls"], s["delivery"]
            self.assertEqual(s["processes"]["workers"], 4)
            self.assertEqual(s["connect"]["connected"], connections)
            self.assertEqual((t["handshakes"], t["tls_failed"]), (connections, 0), t)
            self.assertTrue(t["verified"])
            self.assertEqual(s["publish"]["accepted"], items)
            self.assertEqual((d["expected"], d["received"]), (expected, expected))
            self.assertEqual((d["missing"], d["duplicates"], d["out_of_order"]), (0, 0, 0))
            self.assertEqual(s["closes"]["unexpected"], 0)
            self.assertTrue(s["clean"], s["problems"])
            self.assertEqual(server.stats()["itemsAccepted"], items)

    def test_reconnects_over_tls_are_exact(self):
        connections, rooms, items = 200, 4, 3000
        with TlsServer(self.cert, self.key, self.ca.ca_cert, threads=2) as server:
            code, out, err, s = run_load_urls(
                server.urls(), "--ca-file", self.ca.ca_cert, "--connections", connections, "--rooms", rooms,
                "--publish-count", items, "--publish-rate", 1000, "--reconnect-every", 200,
                "--reconnect-pause", 20, timeout=120)
            self.assertEqual(code, 0, out + err)
            r, t, d = s["reconnect"], s["tls"], s["delivery"]
            self.assertEqual(d["received"], connections * items // rooms)
            self.assertEqual((d["missing"], d["duplicates"]), (0, 0))
            self.assertGreaterEqual(r["reconnects"], connections, r)  # at least once each
            self.assertEqual(r["resumed"], r["reconnects"], r)
            self.assertEqual(t["tls_failed"], 0, t)
            self.assertGreaterEqual(t["handshakes"], connections + r["reconnects"], t)
            # Offered every time; whether the server takes a session is its choice (tickets on or off).
            self.assertLessEqual(t["tls_resumed"], t["handshakes"] - connections, t)
            sys.stderr.write("TLS sessions resumed on reconnect: %d of %d\n" % (t["tls_resumed"], r["reconnects"]))
            self.assertTrue(s["clean"], s["problems"])

    def test_another_ca_fails_every_connection_without_hanging(self):
        connections = 200
        with TlsServer(self.cert, self.key, self.ca.ca_cert, threads=1) as server:
            code, out, err, s = run_load_urls(
                server.urls(), "--ca-file", self.ca.other_ca_cert, "--connections", connections,
                "--publish-count", 10, "--connect-timeout", 30, timeout=60)
            self.assertEqual(code, 1, out + err)
            t = s["tls"]
            self.assertEqual((t["tls_failed"], t["handshakes"]), (connections, 0), t)
            self.assertIn("unable to get local issuer certificate", t["first_error"])
            self.assertEqual(s["connect"]["failed"], connections)
            self.assertFalse(s["connect"]["timed_out"])
            self.assertIn("certificate verify failed", s["publish"]["first_failure"])
            self.assertIn("tls_failed %d" % connections, err.splitlines()[-1])
            self.assertFalse(s["clean"])


if __name__ == "__main__":
    if not os.path.exists(RINGCAST_BIN) or not server_has_tls():
        print("SKIP: ringcast has no --tls-cert-file yet")
        sys.exit(SKIP)
    unittest.main()
