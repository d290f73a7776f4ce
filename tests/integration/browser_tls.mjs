// TLS on the listeners (issue 16) in a real browser: Debian's chromium, headless, driven by
// playwright-core, against `ringcast --demo --tls-cert-file ...` with a certificate from a throw-away
// test CA (tests/lib/testca.mjs). Chromium trusts exactly the server's key and nothing else:
// --ignore-certificate-errors-spki-list with the base64 SHA-256 of the certificate's public key
// (computed with the openssl CLI), never a blanket --ignore-certificate-errors.
// 1. The demo page loads over https:// (the certificate the browser saw is the test CA's), its JS
//    client connects over wss://, and a push through the https push API and a comment typed into the
//    page arrive live.
// 2. The demo page's SSE transport over https://.
// 3. Not trusted (no flag, or the flag naming another key): the page load fails with a certificate
//    error, and the server keeps serving.
// Exits 77 (SKIP) only when chromium or playwright-core is not installed.
import { assert, assertEqual, connect, ping, run, test, withServer } from '../lib/harness.mjs';
import { withBrowser } from '../lib/browser.mjs';
import { TestCa } from '../lib/testca.mjs';

const ca = new TestCa();
const { cert, key } = ca.server('ringcast');
const caPem = ca.read(ca.caCert);
const TLS = ['--demo', '--tls-cert-file', cert, '--tls-key-file', key];
const trustServerKey = { args: [`--ignore-certificate-errors-spki-list=${ca.spkiHash(cert)}`] };

// A page that records uncaught errors and console errors into `problems`.
async function watchedPage(context) {
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  return { page, problems };
}

test('the demo page over https://, live pushes and comments over wss://', () => withServer(TLS, { threads: 2, ca: caPem },
  (server) => withBrowser(async (context) => {
    const { page, problems } = await watchedPage(context);
    const before = await server.stats();
    const response = await page.goto(`${server.httpUrl}/?room=secure`);
    assertEqual(response.url().slice(0, 8), 'https://');
    assertEqual(response.status(), 200);
    const security = await response.securityDetails();
    assertEqual(security?.issuer, 'ringcast test CA', `the certificate the browser saw: ${JSON.stringify(security)}`);
    assertEqual(security?.subjectName, '127.0.0.1');
    console.log(`page over ${security.protocol}, certificate issued by ${security.issuer}`);
    await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
    assertEqual(await page.textContent('#status'), 'connected');
    assertEqual(await page.getAttribute('body', 'data-transport'), 'websocket');
    assertEqual(await page.evaluate(() => window.ringcastClient.url), `wss://127.0.0.1:${server.wsPort}/connect`);
    await server.waitStat('joins', (v) => v >= 1);
    // The page's curl hint names the push API with its scheme.
    const curl = await page.textContent('#curl');
    assert(curl.endsWith(` https://127.0.0.1:${server.apiPort}/push/room`), `curl hint: ${curl}`);

    const r = await server.pushRoom('secure', [{ text: 'pushed over https' }, 'and a plain string']);
    assertEqual(r.status, 200);
    await page.waitForSelector('#stage .comment:text("pushed over https")', { timeout: 15000 });
    await page.waitForSelector('#recent li:has-text("and a plain string")', { timeout: 15000 });

    await page.fill('#text', 'typed in chromium over TLS');
    await page.click('#send button');
    await page.waitForSelector('#stage .comment.mine:text("typed in chromium over TLS")', { timeout: 15000 });
    await page.waitForFunction(() => document.getElementById('c-conns').textContent === '1', null, { timeout: 15000 });

    const stats = await server.stats();
    assertEqual(stats.wsOpen, 1, 'the page\'s WebSocket');
    assertEqual(stats.demoPublishes, 1);
    assert(stats.tlsHandshakes > before.tlsHandshakes, `tlsHandshakes ${before.tlsHandshakes} -> ${stats.tlsHandshakes}`);
    assert(stats.tlsOpen > before.tlsOpen, `tlsOpen ${before.tlsOpen} -> ${stats.tlsOpen}: the page's connections`);
    assertEqual(stats.tlsHandshakesFailed, 0, 'tlsHandshakesFailed');
    assertEqual(stats.tlsRecordErrors, 0, 'tlsRecordErrors');
    assertEqual(problems.length, 0, problems.join('\n'));
  }, trustServerKey)));

test('the demo page on SSE over https://', () => withServer(TLS, { threads: 2, ca: caPem }, (server) => withBrowser(async (context) => {
  const { page, problems } = await watchedPage(context);
  await page.goto(`${server.httpUrl}/?room=securesse&transport=sse`);
  await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
  assertEqual(await page.getAttribute('body', 'data-transport'), 'sse');
  assertEqual(await page.textContent('#status'), 'connected (SSE)');
  await server.waitStat('sseOpen', (v) => v === 1);
  assertEqual((await server.stats()).wsOpen, 0);
  const r = await server.pushRoom('securesse', [{ text: 'server-sent over TLS' }]);
  assertEqual(r.status, 200);
  await page.waitForSelector('#recent li:has-text("server-sent over TLS")', { timeout: 15000 });
  assertEqual(problems.length, 0, problems.join('\n'));
}, trustServerKey)));

// The page load of an untrusted server fails with a certificate error (what the browser says).
async function refused(context, url) {
  const page = context.pages()[0] || await context.newPage();
  try {
    await page.goto(url, { timeout: 15000 });
  } catch (e) {
    return e.message;
  }
  return null;
}

test('not trusted: the page load fails with a certificate error', () => withServer(TLS, { threads: 1, ca: caPem }, async (server) => {
  const url = `${server.httpUrl}/?room=refused`;
  const untrusted = await withBrowserResult({}, (context) => refused(context, url));
  assert(untrusted && /ERR_CERT_AUTHORITY_INVALID/.test(untrusted), `no flag: ${untrusted}`);
  // The flag names exactly one key: another certificate of the same CA is not trusted through it.
  const other = ca.server('someone-else');
  const wrongKey = await withBrowserResult({ args: [`--ignore-certificate-errors-spki-list=${ca.spkiHash(other.cert)}`] },
    (context) => refused(context, url));
  assert(wrongKey && /ERR_CERT_AUTHORITY_INVALID/.test(wrongKey), `another key's hash: ${wrongKey}`);
  console.log(`refused: ${untrusted.split('\n')[0]}`);
  const stats = await server.stats();
  assertEqual(stats.wsOpen, 0, 'no page got as far as its WebSocket');
  assertEqual(stats.demoRequests, 0, 'no request got through');
  console.log(`server side: tlsHandshakes ${stats.tlsHandshakes}, tlsHandshakesFailed ${stats.tlsHandshakesFailed}`);
  // Chromium aborts inside the handshake (an alert), so the server counts each refusal as failed.
  assert(stats.tlsHandshakesFailed >= 2, `tlsHandshakesFailed ${stats.tlsHandshakesFailed}: one browser each at least`);
  // And it keeps serving a client that trusts it.
  const ws = await connect(server.wsUrl, { ca: caPem });
  await ping(ws);
  ws.close();
  await ws.closed;
}));

// withBrowser, returning what fn returns.
async function withBrowserResult(options, fn) {
  let result;
  await withBrowser(async (context) => { result = await fn(context); }, options);
  return result;
}

run();
