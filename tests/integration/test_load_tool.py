"""ringcast-load against the real server: a clean run spread over several worker processes and source
addresses delivers exactly what the plan says (the test computes the expected count itself), a run
with stalled readers is reported as loss with the server's 1008 closes, and the progress line and
the JSON summary are produced, and connections that drop and resume mid-stream (--reconnect-every)
end with every item exactly once, through the server's replay (and report loss when it cannot
replay). --deflate: against ringcast (which may agree or decline) and against python3-websockets
with permessage-deflate, whose messages come in three frames (compressed, and plain), every item is
counted after inflating; answers the tool cannot take fail the handshake with their reason. TLS
(wss://, https://, --ca-file, --insecure) through tests/lib/tls_proxy.py in front of the plain
server: thousands of connections deliver exactly as over ws://, reconnects resume their TLS session,
a CA or a certificate that does not fit fails every connection with the reason and tls_failed
counted (test_load_tls.py runs the same against ringcast's own TLS once it has it). No timing
assertions: the figures depend on the machine."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server  # noqa: E402

DEFLATE_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "deflate_peer.py")
TLS_PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "tls_proxy.py")
from testca import TestCa  # noqa: E402

LOAD_BIN = os.environ.get("RINGCAST_LOAD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "load", "ringcast-load")


def run_load(server, *args, timeout=60):
    """Runs ringcast-load against server; returns (exit code, stdout, stderr, parsed JSON summary)."""
    return run_load_urls(["--url", server.ws_url, "--publish-url", server.api_url + "/push/room"], *args,
                         timeout=timeout)


def run_load_urls(urls, *args, timeout=60):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "summary.json")
        cmd = [LOAD_BIN, *urls, "--json", path, "--timeout", "50", *[str(a) for a in args]]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        summary = None
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
    if summary is None:
        raise AssertionError("no JSON summary; exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr, summary


class LoadToolTest(unittest.TestCase):
    def test_clean_run_over_processes_and_sources(self):
        connections, rooms, items = 2000, 20, 2000
        with Server(threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", connections, "--per-proc", 1000, "--per-source", 1000,
                "--rooms", rooms, "--also-room", "everyone", "--publish-target", "rooms",
                "--publish-count", items, "--publish-rate", 4000, "--payload", 80,
                "--publish-conns", 3, "--pipeline", 8)
            self.assertEqual(code, 0, out + err)
            # The plan: item k goes to room k % rooms, connection i is in room i % rooms, so every
            # connection receives the items of its own room (none go to the also-room).
            members = [sum(1 for i in range(connections) if i % rooms == r) for r in range(rooms)]
            per_room = [sum(1 for k in range(items) if k % rooms == r) for r in range(rooms)]
            expected = sum(m * n for m, n in zip(members, per_room))
            self.assertEqual(s["processes"]["workers"], 2)
            self.assertEqual(s["processes"]["source_addresses"], 2)
            self.assertEqual(s["connect"]["connected"], connections)
            self.assertEqual(s["connect"]["failed"], 0)
            self.assertEqual(s["publish"]["accepted"], items)
            self.assertEqual(s["publish"]["failed"], 0)
            self.assertEqual(s["delivery"]["expected"], expected)
            self.assertEqual(s["delivery"]["received"], expected)
            self.assertEqual(s["delivery"]["missing"], 0)
            self.assertEqual(s["delivery"]["duplicates"], 0)
            self.assertEqual(s["delivery"]["out_of_order"], 0)
            self.assertEqual(s["closes"]["unexpected"], 0)
            self.assertTrue(s["clean"], s["problems"])
            self.assertEqual(s["latency_ms"]["count"], expected)
            self.assertGreater(s["latency_ms"]["max"], 0)
            # The server saw exactly the planned pushes.
            stats = server.stats()
            self.assertEqual(stats["itemsAccepted"], items)

    def test_sse_mode_in_rooms_and_an_also_room(self):
        # --protocol sse: subscriptions by URL (GET /sse?room=r&room=everyone), the chunked event
        # stream read and checked like WebSocket frames; the server counts them as SSE members.
        connections, rooms, items = 600, 6, 600
        with Server(threads=2) as server:
            code, out, err, s = run_load_urls(
                ["--url", f"http://127.0.0.1:{server.ws_port}/sse", "--publish-url", server.api_url + "/push/room"],
                "--protocol", "sse", "--connections", connections, "--per-proc", 300, "--rooms", rooms,
                "--also-room", "everyone", "--publish-target", "rooms", "--publish-count", items,
                "--publish-rate", 3000, "--hold", 0)
            self.assertEqual(code, 0, out + err)
            self.assertIn("protocol sse", out)
            expected = (connections // rooms) * items
            self.assertEqual(s["connect"]["connected"], connections)
            self.assertEqual(s["delivery"]["expected"], expected)
            self.assertEqual(s["delivery"]["received"], expected)
            self.assertEqual((s["delivery"]["missing"], s["delivery"]["duplicates"]), (0, 0))
            self.assertTrue(s["clean"], s["problems"])
            stats = server.stats()
            self.assertEqual(stats["streamsOpened"], connections)
            self.assertEqual(stats["joins"], 2 * connections)
        # A --url that is not a subscription (the WebSocket path): every connection fails, clearly.
        with Server(threads=1) as server:
            code, out, err, s = run_load_urls(
                ["--url", f"http://127.0.0.1:{server.ws_port}/connect", "--publish-url", server.api_url + "/push/room"],
                "--protocol", "sse", "--connections", 5, "--connect-timeout", 10)
            self.assertNotEqual(code, 0)
            self.assertEqual(s["connect"]["failed"], 5)

    def test_stalled_readers_are_reported_as_loss(self):
        # A small per-client backlog: a connection that stops reading is cut (1008) once its socket
        # buffers (the stalling connections read through a 4 KiB receive buffer) and 1 MiB more are
        # full; 8 MB per connection is well past that, and everything published after the cut is
        # missing for it. The backlog is not smaller so that a designated connection starved of its
        # core for a moment (the sanitizer suite runs tests side by side on 2 cores) is not cut before
        # it has read its 20 items and stalled on purpose (with 64 KiB, 16 ms of starvation was enough:
        # 0 or 1 of 4 then counted as stalled). The long close timeout keeps the close frame waiting
        # until the stalled reader resumes and sees it.
        flags = ["--out-queue-bytes-max", 1 << 20, "--merge-frame-bytes-max", 32768, "--api-body-bytes-max", 32768,
                 "--close-timeout-ms", 30000]
        with Server(*flags, threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", 40, "--rooms", 1, "--also-room", "all", "--publish-target", "also",
                "--publish-count", 2000, "--publish-rate", 1000, "--payload", 4000,
                "--stall-after", 20, "--stall-every", 10, "--drain-timeout", 5)
            self.assertEqual(code, 1, out + err)
            self.assertEqual(s["connect"]["connected"], 40)
            self.assertEqual(s["publish"]["accepted"], 2000)
            self.assertEqual(s["delivery"]["stalled_connections"], 4)
            self.assertGreater(s["delivery"]["missing"], 0)
            self.assertLess(s["delivery"]["received"], s["delivery"]["expected"])
            self.assertGreaterEqual(s["closes"]["unexpected"], 1)
            self.assertGreaterEqual(s["closes"]["codes"].get("1008", 0), 1, s["closes"])
            self.assertFalse(s["clean"])
            self.assertIn("missing", s["problems"])
            self.assertGreaterEqual(server.stats()["closeSlowConsumer"], 1)

    def test_reconnect_and_resume_is_exact(self):
        # Every connection drops after 100-300 items and stays away 20 ms (about 5 items of its
        # room published meanwhile) before it resumes; over two shards, so a connection often comes
        # back on the other one. Without the replay each drop would lose items; with it, exactly once.
        connections, rooms, items = 200, 4, 3000
        with Server(threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", connections, "--rooms", rooms, "--publish-count", items,
                "--publish-rate", 1000, "--reconnect-every", 200, "--reconnect-pause", 20)
            self.assertEqual(code, 0, out + err)
            expected = connections * items // rooms  # 50 members per room, 750 items per room
            d, r = s["delivery"], s["reconnect"]
            self.assertEqual(s["connect"]["connected"], connections)
            self.assertEqual(s["publish"]["accepted"], items)
            self.assertEqual(d["expected"], expected)
            self.assertEqual(d["received"], expected)
            self.assertEqual(d["missing"], 0)
            self.assertEqual(d["duplicates"], 0)
            self.assertEqual(d["out_of_order"], 0)
            # ~750 items per connection, a drop every ~200 while publishing: ~3.5 drops each.
            self.assertGreater(r["reconnects"], 2 * connections, r)
            self.assertEqual(r["resumed"], r["reconnects"], r)
            self.assertEqual(r["failed"], 0, r)
            self.assertEqual(r["recovered"], r["reconnects"], r)
            self.assertEqual(r["not_recovered"], 0, r)
            self.assertGreater(r["items_replayed"], r["reconnects"], r)  # several items per drop
            self.assertEqual(r["resume_ms"]["count"], r["reconnects"])
            self.assertGreaterEqual(r["resume_ms"]["p50"], 20)  # the pause is part of it
            self.assertEqual(s["closes"]["unexpected"], 0)
            self.assertTrue(s["clean"], s["problems"])
            self.assertIn("reconnect ", out)
            # The server's view agrees: one recovery per drop, the same items replayed, and no
            # failure (the first JOINs, with since null, only ask for the position).
            stats = server.stats()
            self.assertEqual(stats["recoveries"], r["recovered"])
            self.assertEqual(stats["itemsReplayed"], r["items_replayed"])
            self.assertEqual(stats["recoveriesFailed"], 0)

    def test_abrupt_reconnects_in_two_rooms(self):
        # TCP resets instead of the close handshake, every third connection, in its own room and the
        # also-room (the one published to): the resume JOINs two rooms and waits for both markers.
        connections, items = 90, 1500
        with Server(threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", connections, "--rooms", 3, "--also-room", "everyone",
                "--publish-target", "also", "--publish-count", items, "--publish-rate", 1000,
                "--reconnect-every", 150, "--reconnect-one-in", 3, "--reconnect-abrupt", "--reconnect-pause", 10)
            self.assertEqual(code, 0, out + err)
            d, r = s["delivery"], s["reconnect"]
            self.assertEqual(d["expected"], connections * items)
            self.assertEqual(d["received"], connections * items)
            self.assertEqual((d["missing"], d["duplicates"], d["out_of_order"]), (0, 0, 0))
            # 30 connections drop, nominally every ~150 items of 1,500 (~10 times each). How many
            # times they really do depends on how fast each resume completes: a slow one (ASan on a
            # loaded machine: p90 ~0.7 s) gets its replay in a few large frames, each of which may end
            # a cycle. So the floor is "several each", not the nominal figure.
            self.assertGreaterEqual(r["reconnects"], connections // 3 * 2, r)
            self.assertEqual(r["resumed"], r["reconnects"], r)
            self.assertEqual(r["recovered"], 2 * r["reconnects"], r)  # both rooms, each time
            self.assertEqual(r["not_recovered"], 0, r)
            self.assertGreater(r["items_replayed"], 0, r)
            self.assertTrue(s["config"]["reconnect_abrupt"])
            self.assertTrue(s["clean"], s["problems"])

    def test_reconnect_without_replay_is_reported_as_loss(self):
        # The same plan against a server that keeps no history: every resume is told
        # recovered:false, and the items published while away are missing. The check above would fail.
        with Server("--history-items-max", 0, threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", 40, "--rooms", 2, "--publish-count", 600, "--publish-rate", 600,
                "--reconnect-every", 60, "--reconnect-pause", 20, "--drain-timeout", 2)
            self.assertEqual(code, 1, out + err)
            r = s["reconnect"]
            self.assertGreater(r["reconnects"], 0, r)
            self.assertEqual(r["recovered"], 0, r)
            self.assertEqual(r["not_recovered"], r["reconnects"], r)
            self.assertEqual(r["items_replayed"], 0, r)
            self.assertGreater(s["delivery"]["missing"], 0)
            self.assertEqual(s["delivery"]["duplicates"], 0)
            self.assertFalse(s["clean"])
            self.assertIn("not recovered", s["problems"])

    def test_progress_line_and_json(self):
        with Server(threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", 50, "--rooms", 5, "--publish-count", 100, "--publish-rate", 200)
            self.assertEqual(code, 0, out + err)
            lines = [line for line in err.splitlines() if "conns " in line]
            self.assertGreaterEqual(len(lines), 2, err)  # the first tick and the final line at least
            self.assertIn("conns 50/50", lines[-1])
            self.assertIn("recv", lines[-1])
            self.assertIn("result     clean", out)
            for section in ("config", "connect", "publish", "delivery", "latency_ms", "closes", "processes"):
                self.assertIn(section, s)
            self.assertEqual(s["config"]["connections"], 50)
            self.assertEqual(s["connect"]["requested"], 50)
            for key in ("p50", "p90", "p99", "p999", "max"):
                self.assertIn(key, s["latency_ms"])
            for key in ("sent", "accepted", "failed", "per_second"):
                self.assertIn(key, s["publish"])
            for key in ("expected", "received", "missing", "duplicates", "items_per_second"):
                self.assertIn(key, s["delivery"])
            self.assertEqual(s["delivery"]["expected"], 100 * 10)

    def test_refuses_non_loopback_and_bad_plans(self):
        for args in (["--url", "ws://10.0.0.1:7777/connect"], ["--per-proc", "19990"],
                     ["--publish-target", "also"], ["--protocol", "raw", "--also-room", "x"],
                     ["--protocol", "raw", "--reconnect-every", "100"],
                     ["--reconnect-every", "100", "--stall-after", "10"], ["--reconnect-one-in", "0"]):
            p = subprocess.run([LOAD_BIN, *args], capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("--help", p.stderr)


class DeflatePeer:
    """tests/lib/deflate_peer.py in a subprocess (see there for the modes)."""

    def __init__(self, mode, extension=""):
        self.proc = subprocess.Popen([sys.executable, DEFLATE_PEER, mode, extension], stdout=subprocess.PIPE,
                                     text=True)
        words = self.proc.stdout.readline().split()
        if len(words) != 3 or words[0] != "ports":
            self.proc.kill()
            raise AssertionError("deflate_peer.py did not start")
        self.urls = ["--url", "ws://127.0.0.1:%s/" % words[1], "--publish-url",
                     "http://127.0.0.1:%s/push" % words[2], "--protocol", "raw", "--publish-body", "{item}"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class DeflateTest(unittest.TestCase):
    def test_deflate_against_ringcast(self):
        # ringcast with permessage-deflate agrees (and compresses the larger PUSH frames), one without
        # declines: either way every item arrives and the run is clean.
        connections, items = 100, 300
        with Server(threads=2) as server:
            code, out, err, s = run_load(
                server, "--connections", connections, "--deflate", "--payload-kind", "danmaku",
                "--publish-body", '{"room":"{room}","items":[{item}]}', "--publish-content-type",
                "application/json", "--publish-count", items, "--publish-rate", 1000)
            self.assertEqual(code, 0, out + err)
            self.assertIn(s["deflate"]["connections"], (0, connections), s["deflate"])
            self.assertEqual(s["delivery"]["received"], connections * items)
            self.assertGreater(s["delivery"]["wire_bytes_per_item"], 50)
            self.assertIn("deflate    ", out)

    def test_compressed_fragmented_messages_from_another_server(self):
        connections, items = 30, 200
        with DeflatePeer("fragments") as peer:
            code, out, err, s = run_load_urls(peer.urls, "--connections", connections, "--deflate",
                                              "--payload-kind", "danmaku", "--publish-count", items,
                                              "--publish-rate", 2000, "--publish-conns", 1)
            self.assertEqual(code, 0, out + err)
            d = s["deflate"]
            self.assertEqual(d["connections"], connections)
            self.assertEqual(d["compressed_messages"], connections * items)
            self.assertEqual(s["delivery"]["received"], connections * items)
            # Three data frames a message at least (websockets 10 ends an iterable with an empty one).
            self.assertGreaterEqual(s["delivery"]["frames"], 3 * connections * items)
            self.assertNotEqual(d["payload_wire_bytes"], d["payload_inflated_bytes"])

    def test_plain_fragmented_messages(self):
        connections, items = 30, 200
        with DeflatePeer("plain") as peer:
            code, out, err, s = run_load_urls(peer.urls, "--connections", connections, "--deflate",
                                              "--publish-count", items, "--publish-rate", 2000,
                                              "--publish-conns", 1)
            self.assertEqual(code, 0, out + err)
            self.assertEqual(s["deflate"]["connections"], 0)
            self.assertEqual(s["deflate"]["compressed_messages"], 0)
            self.assertEqual(s["delivery"]["received"], connections * items)
            self.assertEqual(s["deflate"]["payload_wire_bytes"], s["deflate"]["payload_inflated_bytes"])

    def test_answers_the_tool_cannot_take_fail_the_handshake(self):
        for extension, deflate, reason in (
                ("permessage-deflate", True, "without server_no_context_takeover"),
                ("permessage-deflate; server_no_context_takeover; server_max_window_bits=7", True, "bad parameter"),
                ("x-webkit-deflate-frame", True, "not offered"),
                ("permessage-deflate; server_no_context_takeover", False, "not offered")):
            with DeflatePeer("answer", extension) as peer:
                code, out, err, s = run_load_urls(peer.urls, "--connections", 3, "--connect-timeout", 5,
                                                  *(["--deflate"] if deflate else []))
                self.assertEqual(code, 1, out + err)
                self.assertEqual(s["connect"]["failed"], 3)
                self.assertIn(reason, s["connect"]["first_error"], extension)


class TlsProxy:
    """tests/lib/tls_proxy.py in front of a plain server's client and API ports (see there)."""

    def __init__(self, cert, key, server, max_tls=None):
        cmd = [sys.executable, TLS_PROXY, cert, key, "%d,%d" % (server.ws_port, server.api_port)]
        if max_tls:
            cmd += ["--max-tls", max_tls]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        words = self.proc.stdout.readline().split()
        if len(words) != 3 or words[0] != "ports":
            self.proc.kill()
            raise AssertionError("tls_proxy.py did not start")
        self.ws_port, self.api_port = int(words[1]), int(words[2])
        self.handshakes = self.resumed = None

    def urls(self, host="127.0.0.1"):
        return ["--url", "wss://%s:%d/connect" % (host, self.ws_port),
                "--publish-url", "https://%s:%d/push/room" % (host, self.api_port)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            words = self.proc.stdout.read().split()
            if len(words) == 4 and words[0] == "handshakes":
                self.handshakes, self.resumed = int(words[1]), int(words[3])
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class TlsThroughProxyTest(unittest.TestCase):
    """wss:// and https:// against a TLS terminator in front of the plain server."""

    @classmethod
    def setUpClass(cls):
        cls.ca = TestCa()
        cls.cert, cls.key = cls.ca.server("proxy")

    @classmethod
    def tearDownClass(cls):
        cls.ca.cleanup()

    def test_thousands_of_connections_deliver_exactly_once(self):
        # The same plan as the plain clean run: 2,000 connections over 2 workers and 2 source
        # addresses, 20 rooms, items published over https; the proxy decrypts every byte in Python,
        # so the rates stay modest.
        connections, rooms, items = 2000, 20, 1000
        # The proxy connects to the server as soon as a client's TLS handshake is done, and relays its
        # upgrade request when Python gets to it: the server's deadline for that request is relaxed.
        with Server("--handshake-timeout-ms", 30000, threads=2) as server, \
                TlsProxy(self.cert, self.key, server) as proxy:
            code, out, err, s = run_load_urls(
                proxy.urls(), "--ca-file", self.ca.ca_cert, "--connections", connections, "--per-proc", 1000,
                "--per-source", 1000, "--rooms", rooms, "--also-room", "everyone", "--publish-target", "rooms",
                "--publish-count", items, "--publish-rate", 1000, "--publish-conns", 2, "--connect-rate", 2000,
                "--drain-timeout", 30, timeout=120)
            self.assertEqual(code, 0, out + err)
            expected = connections * items // rooms
            t, d = s["tls"], s["delivery"]
            self.assertTrue(t["enabled"] and t["verified"], t)
            self.assertEqual(t["handshakes"], connections, t)
            self.assertEqual((t["tls_failed"], t["tls_resumed"]), (0, 0), t)
            self.assertGreater(t["handshake_ms"]["max"], 0, t)
            self.assertEqual(s["connect"]["connected"], connections)
            self.assertEqual(s["publish"]["accepted"], items)
            self.assertEqual((d["expected"], d["received"]), (expected, expected))
            self.assertEqual((d["missing"], d["duplicates"], d["out_of_order"]), (0, 0, 0))
            self.assertTrue(s["clean"], s["problems"])
            self.assertEqual(s["config"]["ca_file"], self.ca.ca_cert)
            self.assertIn("tls        2000 handshakes", out)
            self.assertIn("tls 2000 tls_resumed 0 tls_failed 0", err.splitlines()[-1])
            self.assertEqual(server.stats()["itemsAccepted"], items)
        # Every client connection and the publisher's 2 went through the proxy's TLS.
        self.assertEqual(proxy.handshakes, connections + 2)

    def test_reconnects_resume_their_tls_session(self):
        # Every reconnect offers the session of the connection's last handshake: with TLS 1.3 a
        # ticket (read after the handshake, with the first records), with TLS 1.2 the session itself;
        # closing with the close handshake (close_notify after the close frame) or a TCP reset.
        connections, rooms, items = 100, 2, 1000
        for max_tls, abrupt in ((None, []), ("1.2", ["--reconnect-abrupt"])):
            with self.subTest(max_tls=max_tls, abrupt=bool(abrupt)), Server(threads=2) as server, \
                    TlsProxy(self.cert, self.key, server, max_tls) as proxy:
                code, out, err, s = run_load_urls(
                    proxy.urls("localhost"), "--ca-file", self.ca.ca_cert, "--connections", connections,
                    "--rooms", rooms, "--publish-count", items, "--publish-rate", 500,
                    "--reconnect-every", 100, "--reconnect-pause", 10, *abrupt, timeout=120)
                self.assertEqual(code, 0, out + err)
                r, t, d = s["reconnect"], s["tls"], s["delivery"]
                self.assertEqual(d["received"], connections * items // rooms)
                self.assertEqual((d["missing"], d["duplicates"]), (0, 0))
                # At least once each (a sanitizer build resumes slowly and gets its replay in a few
                # large frames, so fewer cycles than the nominal 5). A connection drops only while the
                # publisher runs, so publishing takes 2 s: a sanitizer build under CI's parallel load
                # once delivered 13 connections' first ~100 items only after a 1 s publish had ended.
                self.assertGreaterEqual(r["reconnects"], connections, r)
                self.assertEqual(r["resumed"], r["reconnects"], r)
                self.assertEqual(t["tls_failed"], 0, t)
                self.assertGreaterEqual(t["handshakes"], connections + r["reconnects"], t)
                # Each reconnect (and retried attempt) had a session to offer and the proxy took every one.
                self.assertEqual(t["tls_resumed"], t["handshakes"] - connections, t)
                self.assertTrue(s["clean"], s["problems"])
            self.assertEqual(proxy.resumed, t["tls_resumed"])

    def test_a_certificate_that_does_not_verify_fails_every_connection(self):
        connections = 50
        other_cert, other_key = self.ca.server("elsewhere", hosts=("127.0.0.9",))
        cases = (
            # A CA that did not sign the server's certificate.
            (self.cert, self.key, ["--ca-file", self.ca.other_ca_cert], "unable to get local issuer certificate"),
            # The right CA, a certificate for another address.
            (other_cert, other_key, ["--ca-file", self.ca.ca_cert], "IP address mismatch"),
        )
        for cert, key, args, reason in cases:
            with self.subTest(reason=reason), Server(threads=1) as server, TlsProxy(cert, key, server) as proxy:
                code, out, err, s = run_load_urls(
                    proxy.urls(), *args, "--connections", connections, "--publish-count", 10,
                    "--connect-timeout", 20, timeout=60)
                self.assertEqual(code, 1, out + err)
                t = s["tls"]
                self.assertEqual(t["tls_failed"], connections, t)
                self.assertEqual(t["handshakes"], 0, t)
                self.assertIn(reason, t["first_error"])
                self.assertEqual(s["connect"]["failed"], connections)
                self.assertFalse(s["connect"]["timed_out"])  # refused at once, not waited out
                self.assertIn("TLS handshake: certificate verify failed", s["connect"]["first_error"])
                self.assertIn(reason, s["publish"]["first_failure"])
                self.assertIn("tls_failed %d" % connections, err.splitlines()[-1])
                self.assertIn("TLS handshakes failed", s["problems"])
                self.assertFalse(s["clean"])
        # --insecure does not check: the certificate for another address is taken.
        with Server(threads=1) as server, TlsProxy(other_cert, other_key, server) as proxy:
            code, out, err, s = run_load_urls(proxy.urls(), "--insecure", "--connections", connections,
                                              "--publish-count", 10, "--publish-rate", 100)
            self.assertEqual(code, 0, out + err)
            self.assertEqual(s["tls"]["handshakes"], connections)
            self.assertFalse(s["tls"]["verified"])
            self.assertIn("NOT verified", out)
            self.assertEqual(s["delivery"]["received"], connections * 10)

    def test_wss_to_a_plain_port_fails_clearly(self):
        # The plain server answers the ClientHello as a bad HTTP request: a failed TLS handshake for
        # every connection, at once, whether the answer or the close comes first.
        with Server(threads=1) as server:
            code, out, err, s = run_load_urls(
                ["--url", "wss://127.0.0.1:%d/connect" % server.ws_port, "--publish-url",
                 server.api_url + "/push/room"], "--ca-file", self.ca.ca_cert, "--connections", 20,
                "--connect-timeout", 20)
            self.assertEqual(code, 1, out + err)
            self.assertEqual(s["tls"]["tls_failed"], 20, s["tls"])
            self.assertEqual(s["connect"]["failed"], 20)
            self.assertFalse(s["connect"]["timed_out"])
            self.assertIn("TLS handshake: ", s["connect"]["first_error"])
            self.assertIn("not TLS", s["tls"]["first_error"])

    def test_tls_options_that_cannot_work(self):
        for args in (["--ca-file", "/nonexistent.pem", "--url", "wss://127.0.0.1:1/connect"],
                     ["--ca-file", self.ca.ca_cert],
                     ["--insecure", "--ca-file", self.ca.ca_cert, "--url", "wss://127.0.0.1:1/connect"]):
            p = subprocess.run([LOAD_BIN, *args], capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)


if __name__ == "__main__":
    unittest.main()
