"""GET /metrics read by a real Prometheus text-format parser (Debian's python3-prometheus-client):
every family parses, counters and the latency histogram move when a push is delivered, histogram
buckets are cumulative and _count matches the +Inf bucket, drop reasons are labelled."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import RawWs, Server, join, recv_json, ws_connect  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # tools/dev installs python3-prometheus-client; run by hand without it: SKIP
    print("SKIP: python3-prometheus-client is not installed (apt-get install python3-prometheus-client)")
    sys.exit(77)

LATENCY = "ringcast_publish_flush_latency_seconds"


def scrape(server):
    status, headers, text = server.api_full("GET", "/metrics")
    assert status == 200, status
    assert headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), headers
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, name, **labels):
    """Sum of the samples named `name` (a family's own name or a sample suffix) whose labels include
    `labels`."""
    family = families.get(name)
    total = 0.0
    for fam in ([family] if family else families.values()):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


class MetricsTest(unittest.IsolatedAsyncioTestCase):
    async def test_parses_and_moves(self):
        with Server(threads=2) as server:
            before = await asyncio.to_thread(scrape, server)
            # Every family has a type and every counter family's samples are non-negative numbers.
            for name in ("ringcast_ws_open", "ringcast_joins", "ringcast_rooms", "ringcast_frames_queued",
                         "ringcast_frames_sent", "ringcast_bytes_in", "ringcast_bytes_out",
                         "ringcast_close_slow_consumer", "ringcast_messages_dropped", LATENCY,
                         "ringcast_ring_used_bytes", "ringcast_ring_occupancy_ratio", "ringcast_ring_held_bytes",
                         "ringcast_ring_entries", "ringcast_pushes_accepted"):
                self.assertIn(name, before, sorted(before))
            self.assertEqual(before[LATENCY].type, "histogram")
            self.assertEqual(before["ringcast_ws_open"].type, "gauge")
            self.assertEqual(before["ringcast_frames_sent"].type, "counter")
            reasons = {s.labels["reason"] for s in before["ringcast_messages_dropped"].samples}
            self.assertLessEqual({"slow_consumer", "closing", "ring_full"}, reasons)
            shards = {s.labels["shard"] for s in before[LATENCY].samples}
            self.assertEqual(shards, {"0", "1"})

            clients = [await ws_connect(server.ws_url) for _ in range(4)]
            for ws in clients:
                await join(ws, "m")
            for i in range(5):
                await server.apush_room("m", [i])
            for ws in clients:
                got = []
                while len(got) < 5:
                    got += (await recv_json(ws))["data"]["items"]
            # Delivered: every PUSH frame queued has been sent whole (pushes may merge: fewer than 20).
            for _ in range(500):
                stats = await server.astats()
                if stats["framesSent"] == stats["framesQueued"] and stats["itemsDelivered"] == 20:
                    break
                await asyncio.sleep(0.02)
            self.assertEqual(stats["framesSent"], stats["framesQueued"])
            after = await asyncio.to_thread(scrape, server)

            self.assertEqual(value(after, "ringcast_ws_open"), 4)
            self.assertGreaterEqual(value(after, "ringcast_joins_total") - value(before, "ringcast_joins_total"), 4)
            self.assertGreaterEqual(value(after, "ringcast_rooms"), 1)
            self.assertEqual(value(after, "ringcast_pushes_accepted_total") - value(before, "ringcast_pushes_accepted_total"), 5)
            self.assertEqual(value(after, "ringcast_ring_entries_total") - value(before, "ringcast_ring_entries_total"), 5)
            delivered = value(after, "ringcast_items_delivered_total") - value(before, "ringcast_items_delivered_total")
            self.assertEqual(delivered, 20)
            self.assertGreaterEqual(value(after, "ringcast_frames_sent_total") - value(before, "ringcast_frames_sent_total"), 4)
            self.assertGreater(value(after, "ringcast_bytes_out_total"), value(before, "ringcast_bytes_out_total"))
            self.assertGreater(value(after, "ringcast_bytes_in_total"), value(before, "ringcast_bytes_in_total"))

            # The histogram: cumulative buckets ending in +Inf == _count, per shard; it counted the frames
            # handed to the kernel (at least one per connection; merged pushes make fewer than 20).
            observed = 0
            for shard in ("0", "1"):
                buckets = sorted(((float(s.labels["le"]), s.value) for s in after[LATENCY].samples
                                  if s.name == LATENCY + "_bucket" and s.labels["shard"] == shard))
                self.assertEqual(buckets[-1][0], float("inf"))
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), "buckets are cumulative")
                count = value(after, LATENCY + "_count", shard=shard)
                self.assertEqual(buckets[-1][1], count)
                total = value(after, LATENCY + "_sum", shard=shard)
                self.assertGreaterEqual(total, 0)
                if count:
                    self.assertLess(total / count, 10.0)  # seconds, not nanoseconds
                observed += count
            self.assertGreaterEqual(observed, 4)
            self.assertLessEqual(observed, 20)
            self.assertEqual(observed, value(after, "ringcast_frames_sent_total")
                             - value(before, "ringcast_frames_sent_total"))

            occupancy = value(after, "ringcast_ring_occupancy_ratio")
            self.assertTrue(0 <= occupancy <= 1, occupancy)
            for ws in clients:
                await ws.close()

    def test_dashboard_queries_only_existing_metrics(self):
        # docs/grafana-dashboard.json must not drift from what /metrics serves.
        import json  # noqa: PLC0415
        import re  # noqa: PLC0415
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "docs", "grafana-dashboard.json"), encoding="utf-8") as f:
            dashboard = json.load(f)
        exprs = []

        def walk(node):
            if isinstance(node, dict):
                if isinstance(node.get("expr"), str):
                    exprs.append(node["expr"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(dashboard)
        self.assertGreater(len(exprs), 10)
        with Server(threads=1) as server:
            families = scrape(server)
        samples = {s.name for fam in families.values() for s in fam.samples}
        for expr in exprs:
            for name in re.findall(r"\bringcast_[a-z_]+", expr):
                self.assertIn(name, samples, expr)

    async def test_drop_reasons(self):
        # A reader that never reads is cut as a slow consumer: its unsent frames count under
        # reason="slow_consumer", and the cut under ringcast_close_slow_consumer_total.
        with Server("--out-queue-bytes-max", 1 << 20, "--api-body-bytes-max", 65536, threads=1) as server:
            stalled = RawWs(server.ws_port, rcvbuf=4096)
            stalled.send_text('{"type":"JOIN","data":{"room":"slow"}}')
            stalled.send_text('{"type":"PING","data":{}}')
            self.assertEqual(stalled.recv_json()["type"], "PONG")
            blob = ["x" * 60000]
            for _ in range(200):
                status, _ = await server.apush_room("slow", blob)
                if (await server.astats())["closeSlowConsumer"]:
                    break
            await server.await_stat("closeSlowConsumer", lambda v: v == 1)
            families = await asyncio.to_thread(scrape, server)
            self.assertEqual(value(families, "ringcast_close_slow_consumer_total"), 1)
            self.assertGreater(value(families, "ringcast_messages_dropped_total", reason="slow_consumer"), 0)
            stalled.abort()
            # The log says so once, in a summary line with the count (not a line per frame dropped).
            for _ in range(100):
                if "limits hit:" in server.log():
                    break
                await asyncio.sleep(0.05)
            lines = [line for line in server.log().splitlines() if "limits hit:" in line]
            self.assertEqual(len(lines), 1, server.log())
            self.assertIn("warn", lines[0])
            self.assertIn("1 slow consumers closed (1008)", lines[0])


if __name__ == "__main__":
    unittest.main()
