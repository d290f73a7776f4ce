"""kTLS (issue 16): where the kernel offers the `tls` upper-layer protocol, a TLS connection's sending
keys go to the kernel after the handshake, and its sends carry plaintext straight from the shared
frames. This test needs the ULP: it skips (exit 77) where the kernel has none, as on this project's
machines; tests/vm/run.sh runs it under Debian 12's own kernel, which has it (tests/vm/README.md).
Checked there: python3-websockets clients over wss:// get small and large items, in order, every one
once, from connections whose keys the kernel holds (tlsKernelTx), with no kernel refusal counted; the
close handshake ends with the kernel's close_notify; and with tls_kernel off, user space encrypts."""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, command  # noqa: E402
from testca import TestCa  # noqa: E402

import websockets  # noqa: E402

CLIENTS = 20
ITEMS = ["small"] + ["x" * 200_000] + [f"item {i}" for i in range(50)] + ["y" * 40_000]


def ulp_offered():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


async def joined(url, ca, room):
    ws = await websockets.connect(url, ssl=ca.ssl_context(), max_size=None)
    await ws.send(command("JOIN", room=room))
    await ws.send(command("PING"))
    while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "PONG":
        pass
    return ws


async def receive_items(ws, count):
    got = []
    while len(got) < count:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if msg["type"] == "PUSH":
            got.extend(msg["data"]["items"])
    return got


async def broadcast_over(server, ca, room):
    url = server.ws_url.replace("127.0.0.1", "localhost")
    clients = await asyncio.gather(*(joined(url, ca, room) for _ in range(CLIENTS)))
    for item in ITEMS:
        status, _ = await server.apush_room(room, [item])
        assert status == 200, status
    for got in await asyncio.gather(*(receive_items(ws, len(ITEMS)) for ws in clients)):
        assert got == ITEMS, [len(i) for i in got]
    stats = server.stats()
    await asyncio.gather(*(ws.close() for ws in clients))
    for ws in clients:
        assert ws.close_code == 1000, ws.close_code
    return stats


async def main():
    with TestCa() as ca:
        cert, key = ca.server("ktls")
        with Server("--tls-cert-file", cert, "--tls-key-file", key, ca_file=ca.ca_cert) as server:
            assert "the kernel offers kTLS: it encrypts" in server.log(), server.log()
            stats = await broadcast_over(server, ca, "k")
            # Every client (and the API connections that pushed) had its sending keys in the kernel.
            assert stats["tlsKernelTx"] >= CLIENTS, stats
            assert stats["tlsKernelErrors"] == 0, stats
            assert stats["tlsRecordErrors"] == 0, stats
            assert stats["framesDropped"] == 0, stats
        with Server("--tls-cert-file", cert, "--tls-key-file", key, "--tls-kernel", "false",
                    ca_file=ca.ca_cert) as server:
            assert "tls_kernel is off" in server.log(), server.log()
            stats = await broadcast_over(server, ca, "u")
            assert stats["tlsKernelTx"] == 0, stats
            assert stats["tlsOwnRecords"] >= CLIENTS, stats


if __name__ == "__main__":
    if not ulp_offered():
        print("SKIP: this kernel offers no tls ULP (/proc/sys/net/ipv4/tcp_available_ulp): kTLS cannot be used here")
        sys.exit(77)
    asyncio.run(main())
    print("ok: the kernel encrypted the sends of every wss:// client; with tls_kernel off, user space did")
