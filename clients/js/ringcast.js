// ringcast.js: a small client for ringcast's WebSocket protocol (go-push compatible), for browsers and
// Node. An ES module with no dependencies: in a browser it uses the global WebSocket; in Node (20 has
// none) pass one in, e.g. the `ws` package: new RingcastClient(url, { WebSocket: (await import('ws')).WebSocket }).
//
// It connects, joins and leaves rooms, sends a PING every heartbeatMs (the server closes a silent client
// after its heartbeat timeout, 60 s by default), notices a dead connection when nothing arrives for
// heartbeatTimeoutMs, and reconnects with exponential backoff and jitter, joining its rooms again. With
// `recover` (on by default) it remembers, per room, the seq of the last PUSH it got and rejoins with
// `since`, so the server replays what it missed while away (the 'joined' event says whether it could).
//
//   const client = new RingcastClient('ws://127.0.0.1:7777/connect');
//   client.on('push', (items) => console.log(items));
//   client.join('lobby');
//
// Server-Sent Events fallback: with `transport: 'auto'` (the default) a client whose WebSocket fails to
// open `fallbackAfter` times in a row (a proxy that breaks upgrades) switches to the server's SSE
// endpoint (GET /sse, derived from the WebSocket URL, or `sseUrl`), one EventSource per room: the
// browser reconnects each by itself and resumes it with Last-Event-ID, which is exact for a stream of
// one room. `transport: 'sse'` uses SSE from the start. Over SSE the client only receives (join/leave
// open and close the room's stream; ping() does nothing: the server sends heartbeats).
//
// Events: open {reconnected, attempt, transport} · push (items, message) · message (any parsed server message) ·
// joined {room, seq, epoch, recovered} (after each JOIN with recovery; recovered false: refetch the room) ·
// pong · close {code, reason, willReconnect, delayMs} · reconnecting {attempt, delayMs} ·
// error (an Error; err.kind is 'socket', 'server' for an ERROR frame with err.code/err.room, or 'protocol').

const DEFAULTS = {
  heartbeatMs: 20000,      // PING interval
  heartbeatTimeoutMs: 0,   // silence that counts as a dead connection; 0: 2 x heartbeatMs + 5 s
  reconnect: true,
  recover: true,           // rejoin rooms with `since`: the server replays what was missed
  backoff: { initialMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 },
  autoConnect: true,
  WebSocket: undefined,    // the implementation; default: globalThis.WebSocket
  random: Math.random,     // injectable for tests
  transport: 'auto',       // 'auto': WebSocket, SSE when it cannot open; 'websocket'; 'sse'
  fallbackAfter: 2,        // 'auto': failed WebSocket opens (none ever opened) before switching to SSE
  sseUrl: undefined,       // default: the WebSocket URL with http(s) and the path /sse
  EventSource: undefined,  // the implementation; default: globalThis.EventSource
};

const EVENTSOURCE_CLOSED = 2;

// The SSE endpoint beside a WebSocket URL: ws://h:p/connect -> http://h:p/sse.
export function sseUrlFor(wsUrl) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/sse';
  u.search = '';
  return u.toString();
}

const OPEN = 1;

// The delay before reconnect attempt `attempt` (1, 2, ...): initialMs x factor^(attempt-1), capped at
// maxMs, then "equal jitter": a uniformly random point in [delay x (1 - jitter), delay], so clients cut
// off together do not all come back in the same instant.
export function backoffDelay(attempt, backoff = DEFAULTS.backoff, random = Math.random) {
  const b = { ...DEFAULTS.backoff, ...backoff };
  const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, attempt - 1)));
  return Math.round(base * (1 - b.jitter * random()));
}

export class RingcastClient {
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...DEFAULTS, ...options, backoff: { ...DEFAULTS.backoff, ...(options.backoff || {}) } };
    this.WebSocketImpl = this.options.WebSocket || globalThis.WebSocket;
    this.EventSourceImpl = this.options.EventSource || globalThis.EventSource;
    this._transport = this.options.transport === 'sse' ? 'sse' : 'websocket';
    if (this._transport === 'sse' && typeof this.EventSourceImpl !== 'function') {
      throw new Error('ringcast: no EventSource implementation for transport "sse"');
    }
    if (this._transport === 'websocket' && typeof this.WebSocketImpl !== 'function') {
      throw new Error('ringcast: no WebSocket implementation (in Node, pass { WebSocket } from the ws package)');
    }
    this.sseUrl = this.options.sseUrl || sseUrlFor(url);
    this._streams = new Map();    // SSE: room -> EventSource
    this._wsFailures = 0;         // 'auto': WebSocket opens that failed before any succeeded
    this._rooms = new Set(options.rooms || []);
    this._positions = new Map();  // room -> seq of the last item received there (recovery)
    this._epoch = null;           // the server's epoch, from its JOINED answers
    this._listeners = new Map();
    this._ws = null;
    this._state = 'idle';        // idle, connecting, open, reconnecting, closed
    this._attempt = 0;           // failed attempts since the last open
    this._connectedOnce = false;
    this._reconnectTimer = null;
    this._heartbeatTimer = null;
    this._lastRx = 0;
    if (this.options.autoConnect) this.connect();
  }

  get state() { return this._state; }
  get rooms() { return [...this._rooms]; }
  get connected() { return this._state === 'open'; }
  // 'websocket', or 'sse' (chosen, or fallen back to).
  get transport() { return this._transport; }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) set.delete(fn);
    return this;
  }

  once(event, fn) {
    const wrapper = (...args) => { this.off(event, wrapper); fn(...args); };
    return this.on(event, wrapper);
  }

  // Opens the connection (again, after close()). Does nothing while one is open or being opened.
  connect() {
    if (this._ws || this._reconnectTimer || this._streams.size) return this;
    this._closedByUser = false;
    if (this._transport === 'sse') this._openSse(); else this._open();
    return this;
  }

  // Joins a room now if connected, and after every reconnect.
  join(room) {
    if (typeof room !== 'string' || room === '') throw new TypeError('ringcast: room must be a non-empty string');
    if (this._rooms.has(room)) return this;
    this._rooms.add(room);
    if (this._transport === 'sse') {
      if (this._state !== 'idle' && this._state !== 'closed') this._openStream(room);
    } else {
      this._send('JOIN', this._joinData(room));
    }
    return this;
  }

  leave(room) {
    if (!this._rooms.delete(room)) return this;
    this._positions.delete(room);
    if (this._transport === 'sse') this._closeStream(room); else this._send('LEAVE', { room });
    return this;
  }

  ping() { return this._send('PING', {}); }

  // Closes for good (no reconnect) until connect() is called again.
  close(code = 1000, reason = '') {
    this._closedByUser = true;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._stopHeartbeat();
    const ws = this._ws;
    this._ws = null;
    const hadStreams = this._streams.size > 0;
    for (const room of [...this._streams.keys()]) this._closeStream(room);
    this._state = 'closed';
    if (hadStreams) this._emit('close', { code, reason, willReconnect: false, delayMs: 0 });
    if (ws) {
      this._detach(ws);
      try { ws.close(code, reason); } catch { /* already closing */ }
      this._emit('close', { code, reason, willReconnect: false, delayMs: 0 });
    }
    return this;
  }

  // ---- internals ----

  _emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try { fn(...args); } catch (e) { setTimeout(() => { throw e; }); }  // a listener's bug is not ours
    }
  }

  // A JOIN's data: with recovery, `since` is the room's last seq (the server replays what came after
  // it) or, the first time, null (the server answers with the room's position, nothing replayed).
  _joinData(room) {
    if (!this.options.recover) return { room };
    const since = this._positions.get(room);
    if (since === undefined) return { room, since: null };
    return this._epoch ? { room, since, epoch: this._epoch } : { room, since };
  }

  _send(type, data) {
    if (!this._ws || this._ws.readyState !== OPEN) return false;
    this._ws.send(JSON.stringify({ type, data }));
    return true;
  }

  _open() {
    this._state = this._connectedOnce || this._attempt > 0 ? 'reconnecting' : 'connecting';
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch (e) {
      this._emit('error', Object.assign(e instanceof Error ? e : new Error(String(e)), { kind: 'socket' }));
      this._scheduleReconnect(1006, 'cannot connect');
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      const reconnected = this._connectedOnce;
      const attempt = this._attempt;
      this._connectedOnce = true;
      this._attempt = 0;
      this._state = 'open';
      this._lastRx = Date.now();
      for (const room of this._rooms) this._send('JOIN', this._joinData(room));
      this._startHeartbeat();
      this._emit('open', { reconnected, attempt });
    };
    ws.onmessage = (event) => {
      this._lastRx = Date.now();
      if (typeof event.data !== 'string') return;  // the protocol is text frames
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        this._emit('error', Object.assign(new Error('ringcast: a server message is not JSON'), { kind: 'protocol' }));
        return;
      }
      this._handle(msg);
    };
    ws.onerror = (event) => {
      const e = event && event.error instanceof Error ? event.error : new Error('ringcast: WebSocket error');
      this._emit('error', Object.assign(e, { kind: 'socket' }));
    };
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      if (!this._connectedOnce) this._wsFailures += 1;
      if (this.options.transport === 'auto' && !this._connectedOnce &&
          this._wsFailures >= this.options.fallbackAfter && typeof this.EventSourceImpl === 'function') {
        // The WebSocket never opened: a proxy or network that breaks upgrades. Plain HTTP may pass.
        this._ws = null;
        this._detach(ws);
        this._transport = 'sse';
        this._attempt = 0;
        this._emit('fallback', { transport: 'sse', failures: this._wsFailures });
        this._openSse();
        return;
      }
      this._lost(event && event.code ? event.code : 1006, event && event.reason ? String(event.reason) : '');
    };
  }

  // A server message, whichever transport carried it.
  _handle(msg) {
    this._emit('message', msg);
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'PUSH') {
      const d = msg.data || {};
      const items = Array.isArray(d.items) ? d.items : [];
      if (typeof d.room === 'string' && Number.isInteger(d.seq) && this._rooms.has(d.room)) {
        this._positions.set(d.room, d.seq);
      }
      this._emit('push', items, msg);
    } else if (msg.type === 'JOINED') {
      const d = msg.data || {};
      if (typeof d.epoch === 'string') this._epoch = d.epoch;
      if (this._rooms.has(d.room) && Number.isInteger(d.seq)) this._positions.set(d.room, d.seq);
      this._emit('joined', { room: d.room, seq: d.seq, epoch: d.epoch, recovered: d.recovered === true });
    } else if (msg.type === 'PONG') {
      this._emit('pong');
    } else if (msg.type === 'ERROR') {
      const d = msg.data || {};
      this._emit('error', Object.assign(new Error(`ringcast: ${d.code}: ${d.message}`),
        { kind: 'server', code: d.code, room: d.room }));
    }
  }

  // ---- Server-Sent Events ----

  _openSse() {
    this._state = this._connectedOnce ? 'reconnecting' : 'connecting';
    if (this._rooms.size === 0) {
      // Nothing to subscribe to yet: the first join() opens its stream.
      this._sseOpened();
      return;
    }
    for (const room of this._rooms) this._openStream(room);
  }

  _sseOpened() {
    if (this._state === 'open') return;
    const reconnected = this._connectedOnce;
    const attempt = this._attempt;
    this._connectedOnce = true;
    this._attempt = 0;
    this._state = 'open';
    this._emit('open', { reconnected, attempt, transport: 'sse' });
  }

  // The room's stream URL: with recovery, its last seq (and the epoch) when it has one. A browser's own
  // reconnect sends Last-Event-ID, which the server prefers to the URL's since.
  _streamUrl(room) {
    const u = new URL(this.sseUrl);
    u.searchParams.append('room', room);
    const since = this._positions.get(room);
    if (this.options.recover && since !== undefined) {
      u.searchParams.set('since', String(since));
      if (this._epoch) u.searchParams.set('epoch', this._epoch);
    }
    return u.toString();
  }

  // The stream that carries pushes without a room (to everyone, to the user): the first room's; the
  // others drop them, or they would arrive once per room.
  _isPrimary(room) {
    return this._streams.keys().next().value === room;
  }

  _openStream(room) {
    if (this._streams.has(room)) return;
    let es;
    try {
      es = new this.EventSourceImpl(this._streamUrl(room));
    } catch (e) {
      this._emit('error', Object.assign(e instanceof Error ? e : new Error(String(e)), { kind: 'socket' }));
      return;
    }
    this._streams.set(room, es);
    const parse = (event) => {
      try {
        return JSON.parse(event.data);
      } catch {
        this._emit('error', Object.assign(new Error('ringcast: a server event is not JSON'), { kind: 'protocol' }));
        return null;
      }
    };
    es.onopen = () => this._sseOpened();
    es.addEventListener('push', (event) => {
      const data = parse(event);
      if (!data) return;
      if (typeof data.room !== 'string' && !this._isPrimary(room)) return;
      this._handle({ type: 'PUSH', data });
    });
    es.addEventListener('joined', (event) => {
      const data = parse(event);
      if (data) this._handle({ type: 'JOINED', data });
    });
    es.addEventListener('message', (event) => {
      const msg = parse(event);
      if (msg) this._handle(msg);
    });
    es.onerror = () => {
      if (es.readyState !== EVENTSOURCE_CLOSED || this._streams.get(room) !== es) return;
      // The browser gave up on this stream (an HTTP error answer): try again later, from where it was.
      this._streams.delete(room);
      if (this._closedByUser || !this.options.reconnect) return;
      this._attempt += 1;
      const delayMs = backoffDelay(this._attempt, this.options.backoff, this.options.random);
      this._emit('reconnecting', { attempt: this._attempt, delayMs, room });
      setTimeout(() => {
        if (!this._closedByUser && this._rooms.has(room)) this._openStream(room);
      }, delayMs);
    };
  }

  _closeStream(room) {
    const es = this._streams.get(room);
    if (!es) return;
    this._streams.delete(room);
    es.onopen = es.onerror = null;
    es.close();
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  }

  // The connection is gone (closed by the server, failed, or found dead): tell, and try again.
  _lost(code, reason) {
    const ws = this._ws;
    this._ws = null;
    this._stopHeartbeat();
    if (ws) this._detach(ws);
    if (this._closedByUser) return;
    this._scheduleReconnect(code, reason);
  }

  _scheduleReconnect(code, reason) {
    const willReconnect = this.options.reconnect && !this._closedByUser;
    let delayMs = 0;
    if (willReconnect) {
      this._attempt += 1;
      delayMs = backoffDelay(this._attempt, this.options.backoff, this.options.random);
      this._state = 'reconnecting';
    } else {
      this._state = 'closed';
    }
    this._emit('close', { code, reason, willReconnect, delayMs });
    if (!willReconnect) return;
    this._emit('reconnecting', { attempt: this._attempt, delayMs });
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (!this._closedByUser) this._open();
    }, delayMs);
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    const every = this.options.heartbeatMs;
    const deadAfter = this.options.heartbeatTimeoutMs || 2 * every + 5000;
    this._heartbeatTimer = setInterval(() => {
      if (Date.now() - this._lastRx > deadAfter) {
        // Nothing heard, not even the PONGs: the connection is dead though no close arrived (a peer
        // gone without a FIN). Drop it instead of waiting for TCP to notice.
        const ws = this._ws;
        this._lost(4000, 'heartbeat timeout');
        if (ws) {
          if (typeof ws.terminate === 'function') ws.terminate(); else try { ws.close(); } catch { /* */ }
        }
        return;
      }
      this.ping();
    }, Math.min(every, deadAfter));
  }

  _stopHeartbeat() {
    clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }
}

export default RingcastClient;
