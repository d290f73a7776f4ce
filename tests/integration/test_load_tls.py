"""ringcast-load against ringcast's own TLS (`--tls-cert-file` and `--tls-key-file`: both listeners
speak TLS, wss:// for clients and https:// for the push API), with a throw-away CA from
tests/lib/testca.py: thousands of connections over several worker processes deliver every item
exactly once, as over ws://; every reconnect resumes its TLS session (the server's tickets); a
client that trusts another CA fails every connection at once, with tls_failed counted and a nonzero
exit, never a hang. (The same client paths through a TLS terminator in front of the plain server:
test_load_tool.py, TlsThroughProxyTest.) No timing assertions."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server  # noqa: E402
from testca import TestCa  # noqa: E402
from test_load_tool import run_load_urls  # noqa: E402

class TlsServer(Server):
    """A ringcast whose listeners speak TLS with `cert` and `key` (the harness trusts `ca`)."""

    def __init__(self, cert, key, ca, *args, **kwargs):
        super().__init__("--tls-cert-file", cert, "--tls-key-file", key, *args, ca_file=ca, **kwargs)

    def urls(self):
        assert self.ws_scheme == "wss" and self.api_scheme == "https"
        return ["--url", "wss://127.0.0.1:%d/connect" % self.ws_port,
                "--publish-url", "https://127.0.0.1:%d/push/room" % self.api_port]


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

    def test_large_broadcasts_over_tls_are_exact(self):
        # Each item is ~12 KB to 1,500 members: 18 MB of ciphertext per broadcast, more than one flush
        # may seal (limits.h kTlsSealBytesPerFlush), so most members' sends wait for a later loop turn
        # and reuse the buffers of the sends before them. Every member still gets every item, once,
        # in order, and every connection ran on our own record layer (tlsOwnRecords).
        connections, items = 1500, 30
        with TlsServer(self.cert, self.key, self.ca.ca_cert, "--handshake-timeout-ms", 30000, threads=1) as server:
            code, out, err, s = run_load_urls(
                server.urls(), "--ca-file", self.ca.ca_cert, "--connections", connections, "--rooms", 1,
                "--payload", 12000, "--publish-count", items, "--publish-rate", 10, "--hold", 1,
                "--timeout", 100, timeout=150)
            self.assertEqual(code, 0, out + err)
            d = s["delivery"]
            self.assertEqual((d["expected"], d["received"]), (connections * items, connections * items))
            self.assertEqual((d["missing"], d["duplicates"], d["out_of_order"]), (0, 0, 0))
            self.assertGreater(d["bytes"], connections * items * 12000)
            stats = server.stats()
            self.assertEqual(stats["framesDroppedSlow"], 0)
            self.assertEqual(stats["tlsRecordErrors"], 0)
            self.assertGreaterEqual(stats["tlsHandshakes"], connections)
            self.assertEqual(stats["tlsOwnRecords"], stats["tlsOpen"])  # (the harness's /stats call included)

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
            # Offered every time, and taken every time: the server issues a ticket per full handshake.
            self.assertEqual(t["tls_resumed"], r["reconnects"], t)
            self.assertGreaterEqual(server.stats()["tlsResumed"], r["reconnects"])
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
    unittest.main()
