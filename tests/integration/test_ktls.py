"""kTLS (issue 16): where the kernel offers the `tls` upper-layer protocol, a TLS connection's keys
could be handed to the kernel after the handshake so sends go straight from the shared frames. That
hand-over is not built: ringcast detects the ULP at start, logs one line, and encrypts in user space.
This test needs the ULP: it skips (exit 77) where the kernel has none, as on this project's machines.
Where the ULP exists it checks what is true today: the server says it does not use it, and TLS still
works in user space (the line to change when the hand-over is built)."""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Server, command  # noqa: E402
from testca import TestCa  # noqa: E402

import websockets  # noqa: E402


def ulp_offered():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


async def main():
    with TestCa() as ca:
        cert, key = ca.server("ktls")
        with Server("--tls-cert-file", cert, "--tls-key-file", key, ca_file=ca.ca_cert) as server:
            assert "the kernel offers kTLS, but ringcast does not hand keys to it yet" in server.log(), server.log()
            url = server.ws_url.replace("127.0.0.1", "localhost")
            async with websockets.connect(url, ssl=ca.ssl_context()) as ws:
                await ws.send(command("JOIN", room="k"))
                await ws.send(command("PING"))
                while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "PONG":
                    pass
                status, _ = await server.apush_room("k", ["over tls"])
                assert status == 200
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg["type"] == "PUSH":
                        assert msg["data"]["items"] == ["over tls"], msg
                        break


if __name__ == "__main__":
    if not ulp_offered():
        print("SKIP: this kernel offers no tls ULP (/proc/sys/net/ipv4/tcp_available_ulp): kTLS cannot be used here")
        sys.exit(77)
    asyncio.run(main())
    print("ok: kTLS offered by the kernel; ringcast says it encrypts in user space and TLS works")
