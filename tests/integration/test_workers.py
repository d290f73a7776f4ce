"""ringcast --workers: the multi-process mode on the real binary. 20,000 connections through 2 worker
processes (more than one process may hold here) with ringcast-load, every publish reaching every member
in every worker exactly once (loss 0 asserted, nothing timed); a worker killed with SIGKILL is repaired
and restarted while the others keep serving; SIGTERM drains everything; an open-files limit too low for
what a worker is asked to hold is refused with a message that says what to do."""

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, children, command, recv_json, run_ringcast, ws_connect  # noqa: E402
from harness import push_items  # noqa: E402

LOAD_BIN = os.environ.get("RINGCAST_LOAD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "load", "ringcast-load")


class WorkersTest(unittest.TestCase):
    def test_twenty_thousand_connections_over_two_workers_lose_nothing(self):
        connections, rooms, items = 20000, 20, 400
        with Server("--workers", 2, "--heartbeat-timeout-ms", 600000, threads=1) as server:
            self.assertEqual(len(children(server.proc.pid)), 2)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "summary.json")
                p = subprocess.run(
                    [LOAD_BIN, "--url", server.ws_url, "--publish-url", server.api_url + "/push/room",
                     "--connections", str(connections), "--per-proc", "10000", "--rooms", str(rooms),
                     "--also-room", "everyone", "--publish-target", "rooms", "--publish-count", str(items),
                     "--publish-rate", "0", "--connect-rate", "0", "--heartbeat", "0",
                     "--drain-timeout", "120", "--timeout", "280", "--json", path],
                    capture_output=True, text=True, timeout=290)
                with open(path) as f:
                    s = json.load(f)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            # Item k goes to room k % rooms; connection i is in room i % rooms.
            members = [sum(1 for i in range(connections) if i % rooms == r) for r in range(rooms)]
            per_room = [sum(1 for k in range(items) if k % rooms == r) for r in range(rooms)]
            expected = sum(m * n for m, n in zip(members, per_room))
            self.assertEqual(s["connect"]["connected"], connections)
            self.assertEqual(s["publish"]["accepted"], items)
            self.assertEqual(s["delivery"]["expected"], expected)
            self.assertEqual(s["delivery"]["received"], expected)
            self.assertEqual(s["delivery"]["missing"], 0)
            self.assertEqual(s["delivery"]["duplicates"], 0)
            self.assertEqual(s["delivery"]["out_of_order"], 0)
            self.assertEqual(s["closes"]["unexpected"], 0)
            # Both workers served connections: /metrics has one series per shard.
            status, metrics = server.api("GET", "/metrics")
            accepted = [int(line.split()[-1]) for line in metrics.splitlines()
                        if line.startswith("ringcast_conns_accepted_total{")]
            self.assertEqual(len(accepted), 2)
            self.assertTrue(all(n > 0 for n in accepted), accepted)

    def test_a_dead_worker_is_restarted_and_the_others_keep_serving(self):
        async def scenario(server):
            clients = [await ws_connect(server.ws_url) for _ in range(30)]
            for c in clients:
                await c.send(command("JOIN", room="r"))
                await c.send(command("PING"))
                self.assertEqual((await recv_json(c))["type"], "PONG")
            workers = children(server.proc.pid)
            self.assertEqual(len(workers), 3)
            victim = workers[1]
            os.kill(victim, signal.SIGKILL)
            # The supervisor notices, repairs and forks a replacement.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                now = children(server.proc.pid)
                if len(now) == 3 and victim not in now:
                    break
                await asyncio.sleep(0.05)
            self.assertEqual(len(children(server.proc.pid)), 3)
            self.assertNotIn(victim, children(server.proc.pid))
            self.assertIn("killed by signal 9", server.log())
            # Clients of the dead worker lost their connections; everyone else still receives, and a
            # client connecting now (to any worker, the new one included) does too.
            late = [await ws_connect(server.ws_url) for _ in range(12)]
            for c in late:
                await c.send(command("JOIN", room="r"))
                await c.send(command("PING"))
                self.assertEqual((await recv_json(c))["type"], "PONG")
            status, body = await server.apush_room("r", [{"after": "restart"}])
            self.assertEqual(status, 200, body)
            alive = 0
            for c in clients + late:
                try:
                    msg = await recv_json(c, timeout=10)
                except Exception:
                    continue  # a client of the killed worker
                self.assertEqual(push_items(msg), [{"after": "restart"}])
                alive += 1
            self.assertGreaterEqual(alive, len(late))
            self.assertLess(alive, len(clients) + len(late))  # the victim's clients are gone
            for c in clients + late:
                await c.close()

        with Server("--workers", 3, threads=1) as server:
            asyncio.run(scenario(server))
            server.signal(signal.SIGTERM)
            self.assertEqual(server.wait(), 0)
            self.assertEqual(children(server.proc.pid), [])

    def test_idle_processes_sleep_until_a_signal(self):
        # The supervisor and each worker's main thread wait for signals only (a child's exit, the
        # operator's, the worker's last shard stopping), not on a timer: 57 workers that each woke
        # every 100 ms and a supervisor every 200 ms made some 600 wake-ups a second on an idle node.
        def main_thread_switches(pid):
            with open(f"/proc/{pid}/task/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if "ctxt_switches" in line)
            return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])

        with Server("--workers", 2, threads=1) as server:
            processes = [server.proc.pid] + children(server.proc.pid)
            self.assertEqual(len(processes), 3)
            time.sleep(0.5)
            before = [main_thread_switches(p) for p in processes]
            time.sleep(2.0)
            after = [main_thread_switches(p) for p in processes]
            # Before, 2 s made 10 wake-ups of the supervisor and 20 of each worker.
            self.assertLessEqual(max(a - b for a, b in zip(after, before)), 2, (before, after))
            # Asleep, they still answer: the last shard to stop wakes its worker, SIGCHLD the supervisor.
            server.signal(signal.SIGTERM)
            self.assertEqual(server.wait(), 0)
            self.assertIn("stopped", server.log())
            self.assertEqual(children(server.proc.pid), [])

    def test_a_second_server_on_the_same_port_is_refused(self):
        # SO_REUSEPORT would let it share the port and silently take some of the connections.
        with Server(threads=1) as first:
            p = run_ringcast("--listen", f"127.0.0.1:{first.ws_port}", "--api", "127.0.0.1:0", "--threads", "1")
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("address in use", p.stderr)
            self.assertEqual(first.stats()["onlineConnections"], 0)

    def test_an_open_files_limit_too_low_is_refused_with_advice(self):
        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (1000, 1000))

        p = subprocess.run([os.environ.get("RINGCAST_BIN") or os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "tools", "ringcast"),
            "--workers", "2", "--threads", "1", "--conns-per-shard-max", "5000",
            "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=20, preexec_fn=low_limit)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("open files", p.stderr)
        self.assertIn("--workers", p.stderr)
        # Without an explicit size, each shard is fitted to the limit instead.
        p = subprocess.run([os.environ.get("RINGCAST_BIN") or os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "tools", "ringcast"), "--help"],
            capture_output=True, text=True, timeout=20)
        self.assertIn("--workers", p.stdout)


if __name__ == "__main__":
    unittest.main()
