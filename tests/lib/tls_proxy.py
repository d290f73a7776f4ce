"""A TLS terminator for tests: accepts TLS on loopback ports and relays the plaintext to plain TCP
ports of a server on 127.0.0.1 (ringcast's client and API listeners), so a TLS client (ringcast-load
with wss:// and https://) can be tested against the plain server. asyncio with Debian's
/usr/bin/python3 ssl module (OpenSSL), one task pair per connection; TLS 1.3 tickets (two per
handshake, OpenSSL's default) make session resumption possible.

    /usr/bin/python3 tls_proxy.py CERT KEY TARGET_PORT[,TARGET_PORT...] [--max-tls 1.2]

prints `ports P1 P2 ...` (the TLS port in front of each target, in order) once it listens, and on
SIGTERM `handshakes N resumed M` before it exits. Loopback only; it holds 2 descriptors per
connection, so it raises its open-file limit to the hard limit.
"""

import asyncio
import os
import resource
import signal
import ssl
import sys

BACKLOG = 4096  # somaxconn here: a connect burst waits in the queue instead of retrying SYNs
CHUNK_BYTES = 65536
HANDSHAKE_TIMEOUT_S = 30

handshakes = 0
resumed = 0


async def pipe(reader, writer, half_close):
    """Copies reader -> writer until EOF; then half-closes the plain side or closes the TLS side
    (a TLS transport cannot half-close: closing it sends close_notify)."""
    try:
        while True:
            data = await reader.read(CHUNK_BYTES)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            if half_close and writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass


def relay_to(target_port):
    async def handle(client_reader, client_writer):
        global handshakes, resumed
        handshakes += 1
        ssl_object = client_writer.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.session_reused:
            resumed += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, upstream_writer, True),
                             pipe(upstream_reader, client_writer, False))
        upstream_writer.close()
        client_writer.close()
    return handle


async def main():
    args = sys.argv[1:]
    max_tls = None
    if "--max-tls" in args:
        at = args.index("--max-tls")
        max_tls = args[at + 1]
        del args[at:at + 2]
    cert, key, targets = args[0], args[1], [int(p) for p in args[2].split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if max_tls == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    servers = []
    for port in targets:
        servers.append(await asyncio.start_server(relay_to(port), "127.0.0.1", 0, ssl=context, backlog=BACKLOG,
                                                  ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S))
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print("ports " + " ".join(str(p) for p in ports), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    try:
        print("handshakes %d resumed %d" % (handshakes, resumed), flush=True)
    except BrokenPipeError:
        pass  # nobody is reading the figures
    # The relays still open are not worth a clean goodbye: leave without asyncio's complaints about
    # their pending tasks.
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
