"""Cluster mode over TLS (nats_tls_* keys, docs/cluster.md "TLS to NATS") with real processes: a
nats-server whose client port speaks TLS only, with a certificate from a throw-away CA (tests/lib/
testca.py), and ringcast nodes that trust that CA. A push made on one node reaches a WebSocket client
on another; a node that trusts another CA, or that is shown a certificate for another host name, does
not connect, says why in its log, answers 503 like a node with NATS down, keeps trying, and connects
once the server shows a good certificate; a server that requires client certificates (verify: true)
takes a node with nats_tls_cert_file/key_file and refuses one without; bad files stop the server at
start with exit code 2. Nothing is timed: every wait is for a condition, with a generous limit."""

import asyncio
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, join, push_items, recv_json, run_ringcast, ws_connect  # noqa: E402
from natsd import NatsServer, Tls, require_nats_server, start_nodes, stop_nodes, sync  # noqa: E402
from testca import TestCa  # noqa: E402


def client_certificate(ca, name):
    """A client certificate signed by the test CA, and its key. nats-server (Go's TLS) takes a client
    certificate only with extendedKeyUsage clientAuth, which TestCa's server certificates lack."""
    cert, key, csr, ext = (ca.path(name + suffix) for suffix in (".crt", ".key", ".csr", ".ext"))
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    for args in (["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", "/CN=" + name],
                 ["x509", "-req", "-in", csr, "-CA", ca.ca_cert, "-CAkey", ca.ca_key, "-CAcreateserial",
                  "-out", cert, "-days", "2", "-extfile", ext]):
        subprocess.run(["openssl", *args], cwd=ca.dir, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    return cert, key


def node_flags(url, ca_file, *extra):
    """A cluster node on `url` trusting `ca_file`, with short reconnect delays."""
    return ["--nats", url, "--nats-tls-ca-file", ca_file, "--nats-reconnect-wait-ms", "50",
            "--nats-reconnect-wait-max-ms", "300", *extra]


def wait_log(node, text, timeout=20.0):
    deadline = time.monotonic() + timeout
    while text not in node.log():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log:\n" + node.log())
        time.sleep(0.05)


class ClusterTlsTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        require_nats_server()
        cls.ca = TestCa()
        cls.cert, cls.key = cls.ca.server("nats")
        cls.nats = NatsServer(cluster=False, tls=Tls(cls.cert, cls.key)).start()
        # Both ways of turning TLS on: tls:// URLs, and nats:// URLs with a CA file.
        cls.a = Server(*node_flags(cls.nats.tls_url, cls.ca.ca_cert), "--listen", "none", listen=False, threads=1)
        cls.b = Server(*node_flags(cls.nats.url, cls.ca.ca_cert), threads=1)
        cls.nodes = [cls.a, cls.b]
        start_nodes(cls.nodes)

    @classmethod
    def tearDownClass(cls):
        stop_nodes(cls.nodes, cls.nats.stop, cls.ca.cleanup)

    async def test_push_on_one_node_reaches_a_client_on_another(self):
        for node in self.nodes:
            self.assertIn("TLS to NATS, servers verified against " + self.ca.ca_cert, node.log())
        client = await ws_connect(self.b.ws_url)
        await join(client, "tls")
        await sync(lambda items: self.a.apush_room("tls", items), [client])
        received = (await self.b.astats())["clusterReceived"]
        self.assertEqual((await self.a.apush_room("tls", [{"over": "tls"}]))[0], 200)
        self.assertEqual(push_items(await recv_json(client)), [{"over": "tls"}])
        self.assertEqual((await self.b.astats())["clusterReceived"], received + 1)
        await client.close()

    def refused_like_nats_down(self, node):
        """What a node that cannot connect looks like: alive, not connected, pushes answered 503."""
        self.assertIsNone(node.proc.poll(), node.log())
        self.assertEqual(node.stats()["clusterConnected"], 0)
        status, body = node.push_room("r", [1])
        self.assertEqual(status, 503, body)
        self.assertIn("cluster unreachable", body["error"])

    def handshakes_refused(self):
        return sum("TLS handshake error" in line for line in self.nats.log_lines)

    async def test_a_node_trusting_another_ca_does_not_connect(self):
        refused = self.handshakes_refused()
        with Server(*node_flags(self.nats.tls_url, self.ca.other_ca_cert), threads=1) as c:
            await asyncio.to_thread(wait_log, c, "unable to get local issuer certificate")
            self.assertIn("cannot connect to NATS", c.log())
            self.refused_like_nats_down(c)
            # Still trying: the server sees handshake after handshake (the node's log repeats the
            # reason at most every 5 s).
            deadline = time.monotonic() + 20
            while self.handshakes_refused() < refused + 3:
                self.assertLess(time.monotonic(), deadline, "".join(self.nats.log_lines))
                await asyncio.sleep(0.05)
            self.refused_like_nats_down(c)
        # The context manager checked that it then stopped with exit code 0 (no crash on the way out).

    async def test_the_host_name_is_verified_and_a_node_keeps_trying(self):
        # A certificate from the trusted CA, but for another host than the URL's 127.0.0.1.
        cert, key = self.ca.server("elsewhere", hosts=("other.example",))
        nats = NatsServer(cluster=False, tls=Tls(cert, key)).start()
        try:
            with Server(*node_flags(nats.tls_url, self.ca.ca_cert), threads=1) as d:
                await asyncio.to_thread(wait_log, d, "IP address mismatch")
                self.refused_like_nats_down(d)
                # The server gets a certificate for its address: the node connects by itself.
                nats.stop()
                nats.tls = Tls(self.cert, self.key)
                nats.start()
                await d.await_stat("clusterConnected", lambda v: v == 1, timeout=30)
                self.assertEqual((await d.apush_room("r", [1]))[0], 200)
        finally:
            nats.stop()

    async def test_a_server_that_verifies_clients_takes_a_node_with_a_client_certificate(self):
        nats = NatsServer(cluster=False, tls=Tls(self.cert, self.key, ca_file=self.ca.ca_cert, verify=True)).start()
        e_cert, e_key = client_certificate(self.ca, "node-e")
        g_cert, g_key = client_certificate(self.ca, "node-g")
        try:
            with Server(*node_flags(nats.tls_url, self.ca.ca_cert, "--nats-tls-cert-file", e_cert,
                                    "--nats-tls-key-file", e_key), threads=1) as e, \
                 Server(*node_flags(nats.tls_url, self.ca.ca_cert, "--nats-tls-cert-file", g_cert,
                                    "--nats-tls-key-file", g_key), threads=1) as g, \
                 Server(*node_flags(nats.tls_url, self.ca.ca_cert), threads=1) as f:
                for node in (e, g):
                    await node.await_stat("clusterConnected", lambda v: v == 1)
                    self.assertIn(", client certificate ", node.log())
                client = await ws_connect(e.ws_url)
                await join(client, "mtls")
                await sync(lambda items: g.apush_room("mtls", items), [client])
                self.assertEqual((await g.apush_room("mtls", ["verified"]))[0], 200)
                self.assertEqual(push_items(await recv_json(client)), ["verified"])
                await client.close()
                # Without a certificate of its own the server refuses the node.
                await asyncio.to_thread(wait_log, f, "cannot connect to NATS")
                self.refused_like_nats_down(f)
            self.assertTrue(any("client didn't provide a certificate" in line for line in nats.log_lines),
                            "".join(nats.log_lines))
        finally:
            nats.stop()

    def test_bad_tls_files_exit_2(self):
        missing = os.path.join(self.ca.dir, "missing.crt")
        other_cert, _ = client_certificate(self.ca, "other")
        cases = [
            (["--nats-tls-ca-file", missing], ["nats_tls_ca_file", "missing.crt"]),
            (["--nats-tls-ca-file", self.ca.ca_cert, "--nats-tls-cert-file", self.cert],
             ["'nats_tls_cert_file' and 'nats_tls_key_file' go together"]),
            (["--nats-tls-cert-file", other_cert, "--nats-tls-key-file", self.key],
             ["'nats_tls_key_file' is not the key of the certificate in 'nats_tls_cert_file'"]),
            (["--nats-tls-ca-file", self.key], ["holds no PEM certificate"]),
        ]
        for flags, mentions in cases:
            with self.subTest(flags=flags):
                p = run_ringcast("--nats", self.nats.url, *flags)
                self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
                for text in mentions:
                    self.assertIn(text, p.stderr)
                self.assertNotIn("serving", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
