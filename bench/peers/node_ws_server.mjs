// The node `ws` peer for bench/compare.sh: the minimal broadcast server people write with `ws`.
// Subscribe: WebSocket GET /sub/<room>. Publish: HTTP POST /pub/<room> with the message as the body;
// it is sent as one text message to every socket of the room (the plain loop of ws's README, with
// permessage-deflate off, as ringcast and nchan have it). One process, one thread: pin it with
// taskset to give it the same core budget as the others.
// --deflate turns permessage-deflate on, every message compressed (threshold 0) and no context kept
// on the server's side (server_no_context_takeover), which ringcast-load --deflate requires; ws
// still compresses each message once per socket.
//
//   node node_ws_server.mjs [--port 18080] [--host 127.0.0.1] [--deflate]
import http from 'node:http';
import { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(option('--port', '18080'));
const host = option('--host', '127.0.0.1');
const perMessageDeflate = args.includes('--deflate')
  ? { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true }
  : false;

const rooms = new Map(); // room name -> Set of sockets
const roomOf = (url, prefix) => {
  if (!url.startsWith(prefix)) return null;
  const room = url.slice(prefix.length);
  return room.length > 0 && room.length <= 128 && !room.includes('/') ? room : null;
};

const server = http.createServer((req, res) => {
  const room = req.method === 'POST' ? roomOf(req.url, '/pub/') : null;
  if (room === null) {
    res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(req.url === '/health' ? '{"ok":true}' : '{"error":"not found"}');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const members = rooms.get(room);
    let sent = 0;
    if (members) {
      for (const ws of members) {
        ws.send(body, { binary: false });
        ++sent;
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"ok":true,"sent":${sent}}`);
  });
});
server.keepAliveTimeout = 60000;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate, clientTracking: false });
server.on('upgrade', (req, socket, head) => {
  const room = roomOf(req.url, '/sub/');
  if (room === null) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let members = rooms.get(room);
    if (!members) rooms.set(room, (members = new Set()));
    members.add(ws);
    ws.on('error', () => {});
    ws.on('close', () => {
      members.delete(ws);
      if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
    });
  });
});

server.listen({ port, host, backlog: 65535 }, () => {
  console.error(`node ws peer: ws://${host}:${port}/sub/<room>, POST http://${host}:${port}/pub/<room>` +
    (perMessageDeflate ? ', permessage-deflate on' : ''));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
