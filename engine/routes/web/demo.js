// The demo page: joins one room with the ringcast JS client (served from /ringcast.js), flies every
// pushed item across the stage, lists the recent ones, polls /demo/stats for the counters, and sends
// comments through POST /demo/publish (rate-limited by the server). The transport picker (?transport=
// sse) shows the client's Server-Sent Events mode, which it also falls back to when WebSocket fails.
import { RingcastClient } from '/ringcast.js';

const $ = (id) => document.getElementById(id);
const stage = $('stage');
const recent = $('recent');
const statusEl = $('status');
const roomSelect = $('room');
const roomCustom = $('room-custom');
const notice = $('notice');

const params = new URLSearchParams(location.search);
let room = params.get('room') || 'lobby';
let apiAddress = '127.0.0.1:7799';
let apiScheme = 'http';
const mine = new Map();       // text -> count of my comments not seen back yet
const laneFreeAt = [];        // per lane: when its last comment has cleared the right edge
const kLaneHeight = 40;
const kFlyingMax = 120;       // beyond this many on screen, new comments only go to the log
let flying = 0;

function textOf(item) {
  if (typeof item === 'string') return item;
  if (item && typeof item === 'object' && typeof item.text === 'string') return item.text;
  return JSON.stringify(item);
}

function fly(text, isMine) {
  $('empty').hidden = true;
  if (flying >= kFlyingMax) return;
  const el = document.createElement('div');
  el.className = isMine ? 'comment mine' : 'comment';
  el.textContent = text;
  el.style.color = isMine ? '' : `hsl(${Math.floor(Math.random() * 360)} 85% 78%)`;
  const lanes = Math.max(1, Math.floor((stage.clientHeight - 10) / kLaneHeight));
  const now = performance.now();
  let lane = 0;
  for (let i = 0; i < lanes; i++) {
    if ((laneFreeAt[i] || 0) <= now) { lane = i; break; }
    if ((laneFreeAt[i] || 0) < (laneFreeAt[lane] || 0)) lane = i;
  }
  el.style.top = `${8 + lane * kLaneHeight}px`;
  stage.append(el);
  flying += 1;
  const width = el.offsetWidth;
  const distance = stage.clientWidth + width;
  const duration = 9000 + Math.random() * 3000;
  // The lane is free again once this comment's tail has entered the stage, plus a gap.
  laneFreeAt[lane] = now + (width + 60) / distance * duration;
  const animation = el.animate(
    [{ transform: `translateX(${stage.clientWidth}px)` }, { transform: `translateX(${-width}px)` }],
    { duration, easing: 'linear' });
  animation.onfinish = () => { el.remove(); flying -= 1; };
}

function log(text, isMine) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, document.createTextNode(text));
  if (isMine) li.className = 'mine';
  recent.append(li);
  while (recent.children.length > 40) recent.firstElementChild.remove();
}

function setStatus(state, text) {
  statusEl.className = `status ${state}`;
  statusEl.textContent = text;
  document.body.dataset.state = state;
}

function showRoom() {
  $('room-name').textContent = room;
  $('room-name-2').textContent = room;
  const items = JSON.stringify([{ text: 'hello from the backend' }]);
  $('curl').textContent = `curl -d 'room=${room}&items=${items}' ${apiScheme}://${apiAddress}/push/room`;
  const preset = [...roomSelect.options].some((o) => o.value === room);
  roomSelect.value = preset ? room : '';
  roomCustom.hidden = preset;
  if (!preset) roomCustom.value = room;
  document.body.dataset.room = room;
}

function switchRoom(next) {
  next = next.trim();
  if (!next || next === room) return;
  client.leave(room);
  room = next;
  client.join(room);
  params.set('room', room);
  history.replaceState(null, '', `?${params}`);
  for (const el of stage.querySelectorAll('.comment')) el.remove();
  $('empty').hidden = false;
  recent.replaceChildren();
  showRoom();
}

// ---- the connection ----

const info = await fetch('/demo/stats').then((r) => r.json()).catch(() => ({}));
if (info.api) apiAddress = info.api.replace(/^0\.0\.0\.0:/, `${location.hostname}:`);
if (info.apiScheme) apiScheme = info.apiScheme;
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${info.wsPath || '/connect'}`;
const wanted = params.get('transport') === 'sse' && info.ssePath ? 'sse' : 'auto';
const client = new RingcastClient(wsUrl, {
  rooms: [room], heartbeatMs: 20000, transport: wanted,
  sseUrl: info.ssePath ? `${location.origin}${info.ssePath}` : undefined,
});
window.ringcastClient = client;  // for the console (and the browser test)
const transportSelect = $('transport');
transportSelect.value = client.transport;
transportSelect.disabled = !info.ssePath;
transportSelect.addEventListener('change', () => {
  // A new client on the other transport: the page starts again with it.
  if (transportSelect.value === 'sse') params.set('transport', 'sse'); else params.delete('transport');
  location.search = `?${params}`;
});

client.on('open', ({ reconnected, transport }) => {
  transportSelect.value = client.transport;
  document.body.dataset.transport = client.transport;
  const via = transport === 'sse' ? ' (SSE)' : '';
  setStatus('open', (reconnected ? 'reconnected' : 'connected') + via);
});
client.on('reconnecting', ({ delayMs }) => setStatus('reconnecting', `reconnecting in ${(delayMs / 1000).toFixed(1)} s`));
client.on('close', ({ willReconnect }) => { if (!willReconnect) setStatus('closed', 'closed'); });
client.on('push', (items) => {
  for (const item of items) {
    const text = textOf(item);
    const own = item && item.via === 'demo' && mine.get(text) > 0;
    if (own) mine.set(text, mine.get(text) - 1);
    fly(text, own);
    log(text, own);
  }
});
client.on('error', (e) => { if (e.kind === 'server') notice.textContent = e.message; });

// ---- counters ----

let previous = null;
async function poll() {
  try {
    const s = await fetch('/demo/stats', { cache: 'no-store' }).then((r) => r.json());
    const now = performance.now();
    $('c-conns').textContent = s.onlineConnections.toLocaleString();
    if (previous) {
      const dt = (now - previous.at) / 1000;
      $('c-pub').textContent = Math.round((s.published - previous.s.published) / dt).toLocaleString();
      $('c-out').textContent = Math.round((s.itemsDelivered - previous.s.itemsDelivered) / dt).toLocaleString();
    }
    previous = { s, at: now };
  } catch { /* the server is restarting: the status pill says so */ }
}
poll();
setInterval(poll, 1000);

// ---- the comment box ----

$('send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text) return;
  const button = event.target.querySelector('button');
  button.disabled = true;
  // Counted as mine before sending: the push can come back on the WebSocket before the answer does.
  mine.set(text, (mine.get(text) || 0) + 1);
  try {
    const r = await fetch('/demo/publish', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ room, text }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      input.value = '';
      notice.textContent = '';
    } else {
      mine.set(text, Math.max(0, mine.get(text) - 1));
      notice.textContent = r.status === 429 ? 'Slow down: too many comments (the demo is rate-limited).'
        : `Not sent: ${body.error || r.status}`;
    }
  } catch {
    mine.set(text, Math.max(0, mine.get(text) - 1));
    notice.textContent = 'Not sent: the server is not reachable.';
  } finally {
    button.disabled = false;
    input.focus();
  }
});

roomSelect.addEventListener('change', () => {
  if (roomSelect.value) switchRoom(roomSelect.value);
  else { roomCustom.hidden = false; roomCustom.focus(); }
});
roomCustom.addEventListener('change', () => switchRoom(roomCustom.value));

showRoom();
