"""ringcast-epoll-load (tools/epoll_load, the neutral benchmark client) against the real server: it
counts every item once whether the server sends it alone or merged with others into one PUSH frame
(the test computes the expected count itself: accepted pushes x connections), over several worker
processes and source addresses, with connections in several rooms, and its JSON summary says so.
A server that never subscribes the connections is reported, not waited for forever. No timing
assertions: the figures depend on the machine."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server  # noqa: E402

EPOLL_LOAD_BIN = os.environ.get("RINGCAST_EPOLL_LOAD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "epoll_load", "ringcast-epoll-load")


def run(server, *args, timeout=120):
    """Runs the client against server; returns (exit code, stdout + stderr, parsed JSON summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "summary.json")
        cmd = [EPOLL_LOAD_BIN, "--url", server.ws_url, "--publish-url", server.api_url + "/push/room",
               "--json", path, *[str(a) for a in args]]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if not os.path.exists(path):
            raise AssertionError("no JSON summary; exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        with open(path) as f:
            return p.returncode, p.stdout + p.stderr, json.load(f)


class EpollLoadTest(unittest.TestCase):
    def check_clean(self, code, out, s, connections, rooms):
        self.assertEqual(code, 0, out)
        self.assertTrue(s["clean"], out)
        self.assertEqual(s["connect"]["connected"], connections)
        self.assertEqual(s["publish"]["requests_failed"], 0)
        requests = s["publish"]["requests_ok"]
        self.assertGreater(requests, 0)
        self.assertEqual(requests % rooms, 0)
        # Every accepted push reaches every connection once: the count is the test's, not the tool's.
        self.assertEqual(s["delivery"]["expected"], requests * connections)
        self.assertEqual(s["delivery"]["received"], requests * connections)
        self.assertEqual(s["delivery"]["missing"], 0)
        self.assertEqual(s["delivery"]["foreign"], 0)
        self.assertEqual(s["delivery"]["connections_complete"], connections)
        self.assertEqual(s["delivery"]["per_connection_min"], requests)
        self.assertEqual(s["delivery"]["per_connection_max"], requests)
        self.assertGreater(s["latency_ms"]["p50"], 0)
        self.assertGreater(s["cpu"]["window_s"], 0)
        return requests

    def test_one_frame_per_item(self):
        # --merge-batch-items-max 1: every item its own frame, so items and messages agree.
        with Server("--merge-batch-items-max", 1, threads=1) as server:
            code, out, s = run(server, "--connections", 200, "--join", "r", "--rate", 40, "--duration", 1)
            requests = self.check_clean(code, out, s, 200, 1)
            self.assertEqual(requests, 40)
            self.assertEqual(s["delivery"]["items_per_message"], 1)
            self.assertEqual(server.stats()["itemsAccepted"], requests + s["publish"]["warmup_requests"])

    def test_merged_frames_count_each_item(self):
        # A 30 ms merge window at 300 items/s puts several items into each PUSH frame.
        with Server("--merge-window-ms", 30, threads=1) as server:
            code, out, s = run(server, "--connections", 200, "--join", "r", "--rate", 300, "--duration", 1,
                               "--payload", 100)
            requests = self.check_clean(code, out, s, 200, 1)
            self.assertEqual(requests, 300)
            self.assertGreater(s["delivery"]["items_per_message"], 2, out)

    def test_processes_sources_and_five_rooms(self):
        # 300 connections in 3 worker processes over 2 source addresses, each in 5 rooms; every item
        # goes to all 5 rooms, so each connection receives it 5 times.
        rooms = "a,b,c,d,e"
        with Server(threads=2) as server:
            code, out, s = run(server, "--connections", 300, "--per-proc", 100, "--per-source", 200,
                               "--join", rooms, "--rate", 50, "--duration", 1, "--publish-conns", 2)
            requests = self.check_clean(code, out, s, 300, 5)
            self.assertEqual(requests, 250)
            self.assertEqual(s["processes"], {"workers": 3, "source_addresses": 2})
            self.assertEqual(s["publish_rooms"], rooms.split(","))

    def test_unsubscribed_connections_are_reported(self):
        # Nobody JOINs room r: the warm-up items never arrive, and the run says why it stopped.
        with Server(threads=1) as server:
            code, out, s = run(server, "--connections", 20, "--publish-rooms", "r", "--rate", 10, "--duration", 1,
                               "--warmup-timeout", 2)
            self.assertNotEqual(code, 0)
            self.assertFalse(s["clean"])
            self.assertIn("warm-up", s["problem"])


if __name__ == "__main__":
    unittest.main()
