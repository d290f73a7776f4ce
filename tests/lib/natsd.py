"""Real nats-server processes for the cluster tests (Debian's nats-server), on loopback with free ports:
one server, or several joined into a NATS cluster with routes. A server can be killed and started
again on the same ports (outage tests). Its monitoring port answers /routez, so a test can wait for the
routes to be up before it starts ringcast nodes. With `tls` its client port speaks TLS only (a `tls {}`
block in a config file written for it), and may require client certificates.

Also the helpers cluster tests share: starting a ringcast node on a list of NATS URLs, and `sync`,
which proves that a room's pushes from one node reach given clients (NATS interest travels between
routed servers asynchronously, so a test waits for it the way a client would: by receiving)."""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def require_nats_server():
    """Exits with 77 (meson: SKIP) when nats-server is not installed (tools/dev installs it)."""
    if not os.access(NATS_SERVER, os.X_OK):
        print("nats-server not installed (apt-get install nats-server): skipping", file=sys.stderr)
        sys.exit(77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tls:
    """TLS on a nats-server's client port: its certificate and key (PEM files), and with `verify` the
    CA whose client certificates it requires (clients without one are refused)."""

    def __init__(self, cert_file, key_file, ca_file=None, verify=False):
        assert not verify or ca_file, "verify needs the CA that signs the client certificates"
        self.cert_file, self.key_file, self.ca_file, self.verify = cert_file, key_file, ca_file, verify

    def config_block(self):
        lines = [f"  cert_file: {json.dumps(self.cert_file)}", f"  key_file: {json.dumps(self.key_file)}"]
        if self.ca_file:
            lines.append(f"  ca_file: {json.dumps(self.ca_file)}")
        lines.append(f"  verify: {'true' if self.verify else 'false'}")
        return "tls {\n" + "\n".join(lines) + "\n}\n"


class NatsServer:
    """One nats-server. `routes`: cluster ports of servers to route to (a NATS cluster)."""

    def __init__(self, routes=(), cluster=True, jetstream=False, store_dir=None, name=None, tls=None):
        """`jetstream`: with -js, keeping the streams in `store_dir` (file storage survives a
        restart). In a NATS cluster every JetStream server needs its own `name`. `tls`: a Tls; it may
        be changed between a stop() and the next start() (a server that renews its certificate)."""
        self.jetstream = jetstream
        self.store_dir = store_dir
        self.name = name
        self.tls = tls
        self._config_dir = None
        self.port = free_port()
        self.cluster_port = free_port() if cluster else None
        self.monitor_port = free_port()
        self.routes = list(routes)
        self.proc = None
        self._reader = None
        self.log_lines = []

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    @property
    def tls_url(self):
        return f"tls://127.0.0.1:{self.port}"

    def _tls_config(self):
        """A config file holding only the tls block (the flags give the rest; they win over a file)."""
        if self._config_dir is None:
            self._config_dir = tempfile.mkdtemp(prefix="ringcast-natsd-")
        path = os.path.join(self._config_dir, "tls.conf")
        with open(path, "w") as f:
            f.write(self.tls.config_block())
        return path

    def start(self, timeout=15.0):
        args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port)]
        if self.tls:
            args += ["-c", self._tls_config()]
        if self.jetstream:
            args += ["-js", "-sd", self.store_dir]
        if self.name:
            args += ["--server_name", self.name]
        if self.cluster_port:
            args += ["--cluster", f"nats://127.0.0.1:{self.cluster_port}", "--cluster_name", "ringcast-test"]
            if self.routes:
                args += ["--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     errors="replace")
        self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        raise RuntimeError("nats-server did not start:\n" + "".join(self.log_lines))

    def _read_log(self, proc):
        for line in proc.stdout:
            self.log_lines.append(line)
        proc.stdout.close()

    def jetstream_ready(self):
        """True once this server's JetStream answers (/jsz; in a cluster, once it knows a meta leader)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/jsz", timeout=5) as r:
                info = json.loads(r.read())
        except OSError:
            return False
        if info.get("disabled"):
            return False
        meta = info.get("meta_cluster")
        return meta is None or bool(meta.get("leader"))

    def wait_jetstream(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.jetstream_ready():
                return
            time.sleep(0.05)
        raise AssertionError(f"nats-server on {self.port}: JetStream not ready:\n" + "".join(self.log_lines[-20:]))

    def routes_up(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/routez", timeout=5) as r:
            return json.loads(r.read())["num_routes"]

    def wait_routes(self, count, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.routes_up() >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"nats-server on {self.port}: {self.routes_up()} routes, wanted {count}")

    def kill(self):
        """SIGKILL: an outage as abrupt as it gets."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self._reader.join(5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)
        if self._config_dir:
            shutil.rmtree(self._config_dir, ignore_errors=True)
            self._config_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def nats_flags(*servers, wait_ms=50, wait_max_ms=300):
    """ringcast flags joining the cluster through `servers` (NatsServer objects), with short reconnect
    delays so outage tests recover quickly."""
    return ["--nats", ",".join(s.url for s in servers), "--nats-reconnect-wait-ms", str(wait_ms),
            "--nats-reconnect-wait-max-ms", str(wait_max_ms)]


def start_nodes(nodes, timeout=15.0, history=False):
    """Starts the ringcast `nodes` and waits until every one is connected to NATS (with `history`,
    also until its JetStream history answers)."""
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_stat("clusterConnected", lambda v: v == 1, timeout=timeout)
        if history:
            node.wait_stat("jsHistoryOk", lambda v: v == 1, timeout=timeout)


def stop_nodes(nodes, *then):
    """Stops the ringcast `nodes`, then calls each of `then` (stopping NATS servers, removing files);
    raises with every node's problem (a crash, a sanitizer report), its log written to stderr."""
    problems = []
    for node in nodes:
        node.stop()
        if node.problem():
            problems.append(node.problem())
            sys.stderr.write("---- ringcast log ----\n" + node.log())
    for stop in then:
        stop()
    if problems:
        raise AssertionError(problems)


async def sync(push, clients, timeout=20.0):
    """Pushes numbered probes with `push(items)` (a coroutine function) until every client has
    received one, then a marker, and reads each client up to the marker. Afterwards the path from that
    publisher to these clients is known to work and nothing of the probing is left unread (one
    publisher's pushes keep their order)."""
    from harness import recv_json  # noqa: PLC0415
    seen = [False] * len(clients)
    deadline = asyncio.get_running_loop().time() + timeout
    probe = 0
    while not all(seen):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"probes did not reach every client within {timeout} s: {seen}")
        probe += 1
        status, body = await push([{"probe": probe}])
        assert status == 200, (status, body)
        for i, c in enumerate(clients):
            if seen[i]:
                continue
            try:
                msg = await recv_json(c, 0.3)
            except asyncio.TimeoutError:
                continue
            assert msg["type"] == "PUSH" and all("probe" in x for x in msg["data"]["items"]), msg
            seen[i] = True
    status, body = await push([{"sync": "done"}])
    assert status == 200, (status, body)
    for c in clients:
        while True:
            msg = await recv_json(c, timeout)
            items = msg["data"]["items"]
            if {"sync": "done"} in items:
                assert items[-1] == {"sync": "done"}, items
                break
            assert all("probe" in x for x in items), msg
