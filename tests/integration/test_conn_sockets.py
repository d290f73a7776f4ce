"""The server's connection sockets, seen from the kernel (issue 20).

Fixed files: sockets registered with the shard's io_uring as fixed files: a connection's socket enters
its shard's table with its first receive, under its own descriptor number, and leaves it when the
connection closes, so the table never holds a socket the process no longer has open (that socket would
stay alive: no FIN to the client) and a reused descriptor number names the new socket. Read from the
kernel's own account of the ring, /proc/PID/fdinfo of the io_uring descriptor, while real clients
(python3-websockets) connect, receive pushes and go away.

TCP_NODELAY: set once on the listeners and inherited by every accepted socket (no system call per
connection); read from the server's own socket, a copy of its descriptor taken with pidfd_getfd."""

import ctypes
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, collect_items, join, ws_connect  # noqa: E402

_ENTRY = re.compile(r"^\s+(\d+): (\S+)$")


def open_sockets(pid):
    """{descriptor: 'socket:[inode]'} of the process's open sockets."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out[int(name)] = target
    return out


def ring_descriptors(pid):
    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == "anon_inode:[io_uring]":
                out.append(int(name))
        except OSError:
            pass
    return out


def table_entries(pid, ring_fd):
    """The ring's fixed-file table as {index: 'socket:[inode]'}, or None when the kernel did not list
    it this time (it lists the entries only when it gets the ring's lock at once)."""
    with open(f"/proc/{pid}/fdinfo/{ring_fd}") as f:
        lines = f.read().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("UserFiles:"))
    except StopIteration:
        return None
    size = int(lines[start].split()[1])
    entries = {}
    for line in lines[start + 1:]:
        m = _ENTRY.match(line)
        if not m:
            break
        entries[int(m.group(1))] = m.group(2)
    return size, entries


def all_tables(pid, expect, timeout=10.0):
    """Every ring's table merged, read again until `expect(tables, sockets, sizes)` holds or `timeout`
    passes; returns the last (tables, sockets, sizes) read (sizes: each ring's table length)."""
    deadline = time.monotonic() + timeout
    while True:
        merged, sizes = {}, []
        for ring_fd in ring_descriptors(pid):
            t = table_entries(pid, ring_fd)
            if t is not None:
                sizes.append(t[0])
                merged.update(t[1])
        sockets = open_sockets(pid)
        if expect(merged, sockets, sizes) or time.monotonic() > deadline:
            return merged, sockets, sizes
        time.sleep(0.05)


def server_socket(pid, fd):
    """A copy of the server's descriptor `fd` (pidfd_getfd, Linux 5.6+; root or ptrace rights)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd (x86-64)
        if copy < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return socket.socket(fileno=copy)
    finally:
        os.close(pidfd)


def each_entry_is_its_descriptor(tables, sockets):
    return all(sockets.get(index) == sock for index, sock in tables.items())


class ConnSocketsTest(unittest.IsolatedAsyncioTestCase):
    async def exercise(self, threads):
        with Server(threads=threads) as server:
            pid = server.proc.pid
            clients = []
            for _ in range(6):
                ws = await ws_connect(server.ws_url)
                await join(ws, "fixed")
                clients.append(ws)

            def connected(tables, sockets, sizes):
                return len(tables) >= 6 and each_entry_is_its_descriptor(tables, sockets)

            tables, sockets, sizes = all_tables(pid, connected)
            self.assertEqual(len(sizes), threads, "one table per shard's ring")
            self.assertTrue(all(s > 0 for s in sizes), sizes)
            self.assertGreaterEqual(len(tables), 6, (tables, sockets))
            self.assertTrue(each_entry_is_its_descriptor(tables, sockets), (tables, sockets))
            in_table_before = dict(tables)

            # Sends and receives go through the table: pushes reach every member, commands are read.
            await server.apush_room("fixed", [{"n": 1}, {"n": 2}])
            for ws in clients:
                items, _ = await collect_items(ws, 2)
                self.assertEqual(items, [{"n": 1}, {"n": 2}])

            # The clients go away: their sockets leave the table with their descriptors.
            for ws in clients:
                await ws.close()
            await server.await_stat("wsOpen", lambda v: v == 0)

            def gone(tables, sockets, sizes):
                return each_entry_is_its_descriptor(tables, sockets) and not (
                    set(tables.values()) & set(in_table_before.values()))

            tables, sockets, _ = all_tables(pid, gone)
            self.assertTrue(each_entry_is_its_descriptor(tables, sockets), (tables, sockets))
            self.assertFalse(set(tables.values()) & set(in_table_before.values()),
                             "a closed connection's socket stayed in the table")

            # New connections reuse the descriptor numbers: each index names the new socket.
            again = []
            for _ in range(6):
                ws = await ws_connect(server.ws_url)
                await join(ws, "fixed")
                again.append(ws)
            tables, sockets, _ = all_tables(pid, connected)
            self.assertGreaterEqual(len(tables), 6)
            self.assertTrue(each_entry_is_its_descriptor(tables, sockets), (tables, sockets))
            self.assertTrue(set(tables) & set(in_table_before), "descriptor numbers were not reused")
            await server.apush_room("fixed", [{"n": 3}])
            for ws in again:
                items, _ = await collect_items(ws, 1)
                self.assertEqual(items, [{"n": 3}])
                await ws.close()

    async def test_accepted_sockets_have_nodelay(self):
        with Server(threads=1) as server:
            pid = server.proc.pid
            before = set(open_sockets(pid))
            ws = await ws_connect(server.ws_url)
            await join(ws, "nd")
            accepted = set(open_sockets(pid)) - before
            self.assertEqual(len(accepted), 1, accepted)
            with server_socket(pid, accepted.pop()) as s:
                self.assertEqual(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
                self.assertEqual(s.getpeername(), ws.local_address[:2])
            await ws.close()

    async def test_one_shard(self):
        await self.exercise(threads=1)

    async def test_two_shards(self):
        await self.exercise(threads=2)


if __name__ == "__main__":
    unittest.main()
