// Node side of the integration harness (see harness.py): starts the real `ringcast` binary on
// loopback with kernel-picked ports, talks to it with the npm `ws` client and fetch (node's https
// module, trusting the test CA, when the push API speaks TLS), and fails the test when the server
// does not exit 0 or logs a sanitizer report. A tiny sequential test runner with the exit codes meson
// wants: 0 pass, 1 fail, 77 skip (no node_modules/ws).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';

// The ports at or above 1024 that the Fetch standard calls bad: fetch fails on them at once ("fetch
// failed"). The API listens on a port the kernel picks, and where the ephemeral range starts below
// 32768 (tuning/sysctl-1m.conf widens it to 1024-65535, so after a 1M benchmark on the same machine)
// it can be one of these; node's http module asks it then.
const FETCH_BAD_PORTS = new Set([1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666,
  6667, 6668, 6669, 6679, 6697, 10080]);

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = joinPath(here, '..', 'node');

// `ws` lives in tests/node/node_modules (ESM ignores NODE_PATH, so resolve from there).
export function loadWs() {
  if (!existsSync(joinPath(nodeDir, 'node_modules', 'ws'))) {
    console.log(`SKIP: the npm package ws is not installed; run: npm install --prefix ${nodeDir}`);
    process.exit(77);
  }
  return createRequire(joinPath(nodeDir, 'package.json'))('ws');
}

export const WebSocket = loadWs();

const RINGCAST_BIN = process.env.RINGCAST_BIN || joinPath(here, '..', '..', 'build', 'tools', 'ringcast');
// The serving line names each listener's scheme: ws/http when plain, wss/https with TLS.
const SERVING = /serving: clients (?:(wss?):\/\/[^:]*:(\d+)\S*|none \(API only\)), push API (https?):\/\/[^:]*:(\d+)/;
const SANITIZER_MARKS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
  'ringcast: assertion failed'];

export class Server {
  // `ca`: the CA certificate (a PEM file's path, or its bytes) that the harness's own push API calls
  // trust when the API speaks TLS; tests pass the same to their clients.
  constructor(flags = [], { threads = 2, ca } = {}) {
    this.args = ['--listen', '127.0.0.1:0', '--api', '127.0.0.1:0', '--threads', String(threads),
      ...flags.map(String)];
    this.log = '';
    this.wsScheme = 'ws';
    this.apiScheme = 'http';
    this.ca = typeof ca === 'string' ? readFileSync(ca) : ca;
  }

  start(timeoutMs = 20000) {
    this.proc = spawn(RINGCAST_BIN, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ringcast did not start:\n${this.log}`)), timeoutMs);
      const onData = (chunk) => {
        this.log += chunk.toString();
        const m = SERVING.exec(this.log);
        if (m && !this.wsPort) {
          this.wsScheme = m[1] ?? 'ws';
          this.wsPort = Number(m[2] ?? 0);
          this.apiScheme = m[3];
          this.apiPort = Number(m[4]);
          if (this.apiScheme === 'https') this.agent = new https.Agent({ keepAlive: true, ca: this.ca });
          clearTimeout(timer);
          resolve(this);
        }
      };
      this.proc.stdout.on('data', onData);
      this.proc.stderr.on('data', onData);
      this.proc.on('exit', () => {
        clearTimeout(timer);
        if (!this.wsPort) reject(new Error(`ringcast exited before serving:\n${this.log}`));
      });
    });
  }

  get wsUrl() { return `${this.wsScheme}://127.0.0.1:${this.wsPort}/connect`; }
  get nanoUrl() { return `${this.wsScheme}://127.0.0.1:${this.wsPort}/nano`; }
  // The client port's HTTP side (the demo page, /sse, /stream): https when the client port speaks TLS.
  get httpUrl() { return `${this.wsScheme === 'wss' ? 'https' : 'http'}://127.0.0.1:${this.wsPort}`; }
  get apiUrl() { return `${this.apiScheme}://127.0.0.1:${this.apiPort}`; }

  // SIGTERM, wait, and check: exit code 0 and no sanitizer report. Returns the exit status.
  async stop(timeoutMs = 30000) {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    if (this.agent) this.agent.destroy();
    await new Promise((r) => setTimeout(r, 50));  // let the last log chunks arrive
    for (const mark of SANITIZER_MARKS) {
      if (this.log.includes(mark)) throw new Error(`ringcast log holds '${mark}':\n${this.log}`);
    }
    if (status.code !== 0) throw new Error(`ringcast exited with ${JSON.stringify(status)}:\n${this.log}`);
    return status;
  }

  async api(method, path, body, headers = {}) {
    const r = this.apiScheme === 'https' ? await this.nodeRequest(https, method, path, body, headers)
      : FETCH_BAD_PORTS.has(Number(new URL(this.apiUrl).port))
        ? await this.nodeRequest(http, method, path, body, headers)
        : await fetch(this.apiUrl + path, { method, body, headers });
    const text = await r.text();
    const json = (r.headers.get('content-type') || '').includes('json') && text ? JSON.parse(text) : text;
    return { status: r.status, body: json, headers: r.headers };
  }

  // fetch cannot be given a CA in Node 20, so over TLS the API is asked with node's https module (one
  // kept-alive agent per server, trusting `ca`); the answer has the fields of fetch's that api() reads.
  // Also over plain HTTP when the API port is one fetch refuses (FETCH_BAD_PORTS).
  nodeRequest(mod, method, path, body, headers) {
    return new Promise((resolve, reject) => {
      const agent = mod === https ? this.agent : undefined;
      const req = mod.request(this.apiUrl + path, { method, headers, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode, headers: h, text: async () => text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  pushRoom(room, items) {
    return this.api('POST', '/push/room', new URLSearchParams({ room, items: JSON.stringify(items) }).toString(),
      { 'Content-Type': 'application/x-www-form-urlencoded' });
  }

  pushAll(items) {
    return this.api('POST', '/push/all', new URLSearchParams({ items: JSON.stringify(items) }).toString(),
      { 'Content-Type': 'application/x-www-form-urlencoded' });
  }

  async stats() {
    const r = await this.api('GET', '/stats');
    if (r.status !== 200) throw new Error(`/stats answered ${r.status}`);
    return r.body;
  }

  async waitStat(name, predicate, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    let value;
    while (Date.now() < deadline) {
      value = (await this.stats())[name];
      if (predicate(value)) return value;
      await sleep(20);
    }
    throw new Error(`stat ${name} stuck at ${value}`);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A ws client whose messages are queued, so a test can await them one by one.
export async function connect(url, options = {}) {
  const ws = new WebSocket(url, { maxPayload: 0, ...options });
  ws.inbox = [];
  ws.waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data, isBinary };
    const w = ws.waiters.shift();
    if (w) w.resolve(msg); else ws.inbox.push(msg);
  });
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    for (const w of ws.waiters.splice(0)) w.reject(new Error(`closed ${code} ${reason}`));
    resolve({ code, reason: reason.toString() });
  }));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

export function nextMessage(ws, timeoutMs = 15000) {
  if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
  return new Promise((resolve, reject) => {
    const waiter = { resolve: (m) => { clearTimeout(t); resolve(m); }, reject: (e) => { clearTimeout(t); reject(e); } };
    const t = setTimeout(() => {
      ws.waiters.splice(ws.waiters.indexOf(waiter), 1);
      reject(new Error(`no message within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.waiters.push(waiter);
  });
}

export async function nextJson(ws, timeoutMs) {
  const m = await nextMessage(ws, timeoutMs);
  if (m.isBinary) throw new Error('unexpected binary message');
  return JSON.parse(m.data.toString());
}

export const cmd = (type, data = {}) => JSON.stringify({ type, data });

// PING and its PONG: also proves every command sent before was handled.
export async function ping(ws) {
  ws.send(cmd('PING'));
  const m = await nextJson(ws);
  assertDeepEqual(m, { type: 'PONG', data: {} });
}

export async function join(ws, ...rooms) {
  for (const room of rooms) ws.send(cmd('JOIN', { room }));
  await ping(ws);
}

export async function collectItems(ws, count, timeoutMs = 60000) {
  const items = [];
  let frames = 0;
  const deadline = Date.now() + timeoutMs;
  while (items.length < count) {
    const m = await nextJson(ws, Math.max(1, deadline - Date.now()));
    if (m.type !== 'PUSH') throw new Error(`expected PUSH, got ${JSON.stringify(m)}`);
    items.push(...m.data.items);
    frames += 1;
  }
  return { items, frames };
}

// Writes raw bytes to the API port and reads `count` Content-Length framed responses.
export function rawHttp(port, bytes, count) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const responses = [];
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.subarray(0, end).toString('latin1');
        const len = Number((/content-length: *(\d+)/i.exec(head) || [0, 0])[1]);
        if (buf.length < end + 4 + len) break;
        responses.push({ status: Number(head.split(' ')[1]), body: buf.subarray(end + 4, end + 4 + len).toString() });
        buf = buf.subarray(end + 4 + len);
      }
      if (responses.length >= count) {
        sock.end();
        resolve(responses);
      }
    });
    sock.write(bytes);
  });
}

export function httpRequest(method, path, body, headers = {}) {
  const b = Buffer.from(body || '');
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `Content-Length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), b]);
}

// ---- assertions and the runner ----

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, message = '') {
  if (actual !== expected) throw new Error(`${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

export function assertDeepEqual(actual, expected, message = '') {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message} expected ${e.slice(0, 500)}, got ${a.slice(0, 500)}`);
}

const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }

// Runs the registered tests one after the other; exits 0 when all pass, 1 otherwise.
export async function run() {
  let failed = 0;
  for (const { name, fn } of tests) {
    const started = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    }
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  process.exit(failed ? 1 : 0);
}

// Runs fn(server) with a started server; the server is always stopped and checked, and a failed test
// prints its log.
export async function withServer(flags, options, fn) {
  const server = await new Server(flags, options).start();
  let error;
  try {
    await fn(server);
  } catch (e) {
    error = e;
  }
  try {
    await server.stop();
  } catch (e) {
    error = error || e;
  }
  if (error) {
    console.log(`---- ringcast log (${server.args.join(' ')}) ----\n${server.log}----`);
    throw error;
  }
}
