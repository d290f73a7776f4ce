"""A second permessage-deflate server for ringcast-load --deflate, independent of ringcast: Debian's
python3-websockets (compression="deflate"; it honours the client's server_no_context_takeover).

    deflate_peer.py fragments    ws on a kernel-picked port; POST /push on another publishes the
                                 body to every socket as ONE message in three frames (websockets
                                 compresses each frame; RSV1 only on the first), so joining
                                 fragments and inflating them are both exercised
    deflate_peer.py plain        the same with compression off: plain fragmented messages
    deflate_peer.py answer EXT   answers every upgrade with a canned 101 whose
                                 Sec-WebSocket-Extensions is EXT (the refusals' test)

Prints "ports WS PUSH" once listening."""

import asyncio
import sys

import websockets

ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # for ringcast-load's fixed RFC 6455 sample key


async def main(mode, extension):
    sockets = set()

    async def handler(ws, path=None):
        sockets.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            sockets.discard(ws)

    async def push(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = (await reader.readexactly(length)).decode()
                third = max(1, len(body) // 3)
                parts = [body[:third], body[third:2 * third], body[2 * third:]]
                await asyncio.gather(*(ws.send(parts) for ws in list(sockets)), return_exceptions=True)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def canned(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: %s\r\n\r\n" % (ACCEPT, extension))
                     .encode())
        await writer.drain()
        await reader.read()  # until the client gives up

    if mode == "answer":
        ws_server = await asyncio.start_server(canned, "127.0.0.1", 0)
    else:
        ws_server = await websockets.serve(handler, "127.0.0.1", 0,
                                           compression="deflate" if mode == "fragments" else None)
    push_server = await asyncio.start_server(push, "127.0.0.1", 0)
    ws_port = list(ws_server.sockets)[0].getsockname()[1]
    push_port = push_server.sockets[0].getsockname()[1]
    print("ports %d %d" % (ws_port, push_port), flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))
