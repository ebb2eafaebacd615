// HTTP/2 rapid reset (CVE-2023-44487) against the gateway (h2guard): a client that opens and
// cancels streams as fast as it can gets GOAWAY (ENHANCE_YOUR_CALM) and its connection is
// closed, counted in tm_gateway_h2_rapid_reset_total, while a normal client running at the
// same time sees no failure and a low p99; a client that cancels a few of its streams keeps
// its connection. The same over TLS (ALPN h2) on a gateway of the test's own, where
// HTTP/1.1 must keep working; and h2c via Upgrade is not offered (answered over HTTP/1.1).
// The flood runs in a worker thread so that it does not delay the measured client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { registerAndLogin, adminPorts, BASE_URL } from './lib/client.mjs';
import { GATEWAY_BIN, PUBKEY, startGateway, stopAll, metric, sleep } from './lib/procs.mjs';

const ENHANCE_YOUR_CALM = http2.constants.NGHTTP2_ENHANCE_YOUR_CALM; // 11
const ADMIN = adminPorts().gateway;
const st = {};

before(async () => {
  st.user = await registerAndLogin('h2reset');
});
after(async () => { await stopAll(); });

// Sessions one after another for durationMs (at most maxSessions), each opening and
// cancelling up to `count` streams until the server says GOAWAY or closes (a session is
// given up after 20 s); reports what the server did to each. CommonJS: worker eval code.
const FLOOD = `
const { parentPort, workerData } = require('node:worker_threads');
const http2 = require('node:http2');
const { url, count, tls, durationMs, maxSessions } = workerData;
function session() {
  return new Promise((resolve) => {
    const out = { sent: 0, goaway: null, closed: false, errors: [] };
    const c = http2.connect(url, tls ? { rejectUnauthorized: false } : {});
    c.on('error', (e) => out.errors.push(e.code || e.message));
    c.on('goaway', (code, last) => { out.goaway = { code, last }; });
    const t0 = Date.now();
    let ended = false;
    const timer = setTimeout(() => done(), 20000);
    const done = () => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      out.ms = Date.now() - t0;
      c.destroy();
      resolve(out);
    };
    c.on('close', () => { out.closed = true; done(); });
    c.once('connect', async () => {
      for (let i = 0; i < count && !c.destroyed && !c.closed && out.goaway === null; i++) {
        try {
          const r = c.request({ ':path': '/healthz' });
          r.on('error', () => {});
          r.close(http2.constants.NGHTTP2_CANCEL);
          out.sent++;
        } catch { break; }
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
    });
  });
}
(async () => {
  const sessions = [];
  const t0 = Date.now();
  do sessions.push(await session()); while (Date.now() - t0 < durationMs && sessions.length < maxSessions);
  parentPort.postMessage(sessions);
})();
`;

function flood(url, { count = 20000, tls = false, durationMs = 0, maxSessions = 1 } = {}) {
  return new Promise((resolve, reject) => {
    const w = new Worker(FLOOD, { eval: true, workerData: { url, count, tls, durationMs, maxSessions } });
    w.once('message', (m) => { resolve(m); w.terminate(); });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`flood worker exited (${code}) without a report`)));
  });
}

/** GET path with `token` over HTTP/1.1 keep-alive, one at a time, until stopped. */
function healthy(base, path, token, opts = {}) {
  const mod = base.startsWith('https') ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1, ...opts });
  const st = { lat: [], fail: {}, stop: false };
  const one = () => new Promise((resolve) => {
    const t0 = performance.now();
    const req = mod.get(base + path, { agent, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => {
        st.lat.push(performance.now() - t0);
        if (res.statusCode !== 200) st.fail[res.statusCode] = (st.fail[res.statusCode] || 0) + 1;
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => { st.fail[e.message] = (st.fail[e.message] || 0) + 1; resolve(); });
  });
  st.done = (async () => { while (!st.stop) { await one(); await sleep(10); } agent.destroy(); })();
  st.finish = async () => { st.stop = true; await st.done; return st; };
  return st;
}

const p99 = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] : NaN;
};

/** A few requests on one session, some cancelled; resolves what happened. */
async function politeClient(url, tls = false) {
  const c = http2.connect(url, tls ? { rejectUnauthorized: false } : {});
  const out = { ok: 0, cancelled: 0, goaway: null, errors: [] };
  c.on('goaway', (code) => { out.goaway = code; });
  c.on('error', (e) => out.errors.push(e.code || e.message));
  await new Promise((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); });
  const get = () => new Promise((resolve) => {
    const r = c.request({ ':path': '/healthz' });
    r.setTimeout(5000, () => { out.errors.push('timeout'); r.close(); });
    r.on('response', (h) => { if (h[':status'] === 200) out.ok++; });
    r.on('error', (e) => out.errors.push(e.code || e.message));
    r.resume();
    r.on('close', resolve);
  });
  for (let round = 0; round < 10; round++) {
    const batch = [];
    for (let k = 0; k < 10; k++) {
      if (k === 3) { // one in ten is cancelled at once
        const r = c.request({ ':path': '/healthz' });
        r.on('error', () => {});
        r.close(http2.constants.NGHTTP2_CANCEL);
        out.cancelled++;
      } else {
        batch.push(get());
      }
    }
    await Promise.all(batch);
  }
  await sleep(200);
  out.open = !c.closed && !c.destroyed;
  if (out.open) await get(); // still usable
  c.close();
  return out;
}

const brief = (fs) => fs.map((f) => `${f.sent}/${f.goaway ? f.goaway.code : '-'}/${f.ms}ms`).join(' ');

test('rapid-reset floods get GOAWAY ENHANCE_YOUR_CALM; a normal client is not hurt', { timeout: 90000 }, async (t) => {
  const before = (await metric(ADMIN, 'tm_gateway_h2_rapid_reset_total')) ?? 0;
  const h = healthy(BASE_URL, '/api/v1/workspaces', st.user.access_token);
  await sleep(1500);
  const base = h.lat.length;
  const floods = await flood(BASE_URL, { durationMs: 3000, maxSessions: 60 });
  const all = (await h.finish()).lat;
  const basePct = p99(all.slice(0, base));
  const during = all.slice(base);
  t.diagnostic(`${floods.length} flooding sessions (sent/GOAWAY code/time): ${brief(floods)}`);
  t.diagnostic(`normal client: p99 ${basePct.toFixed(1)} ms before (${base} requests), ${p99(during).toFixed(1)} ms during the floods (${during.length})`);
  assert.ok(floods.length >= 3, `flooding sessions ${floods.length}`);
  for (const f of floods) {
    assert.ok(f.goaway, `no GOAWAY after ${f.sent} streams: ${JSON.stringify(f)}`);
    assert.equal(f.goaway.code, ENHANCE_YOUR_CALM, JSON.stringify(f));
    assert.ok(f.closed, 'the flooding session was closed');
    assert.ok(f.sent > 100, `the flood sent ${f.sent} streams`);
    // the budget is about 100 resets: h2o handled a few hundred streams, not 20,000
    assert.ok(f.goaway.last < 1000, `last stream ${f.goaway.last}: h2o handled that many`);
  }
  assert.deepEqual(h.fail, {}, 'the normal client failed');
  assert.ok(during.length > 20, `normal requests during the floods: ${during.length}`);
  assert.ok(p99(during) <= Math.max(250, 4 * basePct), `p99 ${p99(during)} ms during the floods (before: ${basePct} ms)`);
  const after = await metric(ADMIN, 'tm_gateway_h2_rapid_reset_total');
  assert.equal(after - before, floods.length, 'tm_gateway_h2_rapid_reset_total');
});

test('a client cancelling a few of its streams keeps its connection', { timeout: 30000 }, async () => {
  const before = await metric(ADMIN, 'tm_gateway_h2_rapid_reset_total');
  const r = await politeClient(BASE_URL);
  assert.equal(r.goaway, null, JSON.stringify(r));
  assert.ok(r.open, `the session was closed: ${JSON.stringify(r)}`);
  assert.equal(r.cancelled, 10);
  assert.equal(r.ok, 91, JSON.stringify(r));
  assert.equal(await metric(ADMIN, 'tm_gateway_h2_rapid_reset_total'), before);
});

test('h2c via Upgrade is not offered: the request is answered over HTTP/1.1', async () => {
  const u = new URL(BASE_URL);
  const text = await new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
    });
    let got = '';
    s.on('data', (d) => { got += d; if (got.includes('\r\n\r\n')) { s.destroy(); resolve(got); } });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve(got); }, 5000);
  });
  assert.match(text, /^HTTP\/1\.1 200 /, text.slice(0, 200));
});

const TLS_SKIP = !GATEWAY_BIN || !fs.existsSync(PUBKEY) ? 'tm-gateway binary or stack keys not found' : false;

test('over TLS (ALPN h2): flood gets GOAWAY, normal h2 and HTTP/1.1 clients are served', { skip: TLS_SKIP, timeout: 90000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-h2tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const gw = await startGateway({ TM_TLS_CERT: cert, TM_TLS_KEY: key, TM_RATE_IP_RPS: '0' });
  const url = `https://127.0.0.1:${gw.port}`;
  try {
    const h = healthy(url, '/healthz', null, { rejectUnauthorized: false });
    await sleep(1000);
    const base = h.lat.length;
    // Node's HTTP/2 over TLS reads nothing while it still has frames to write, and a session
    // whose socket closes under a long write queue hangs: 3,000 streams are written before
    // the gateway's lingering close (2 s) ends.
    const [f] = await flood(url, { tls: true, count: 3000 });
    await sleep(300);
    const all = (await h.finish()).lat;
    t.diagnostic(`TLS flood ${JSON.stringify({ sent: f.sent, goaway: f.goaway, ms: f.ms })}; HTTP/1.1 p99 ${p99(all.slice(0, base)).toFixed(1)} -> ${p99(all.slice(base)).toFixed(1)} ms`);
    assert.ok(f.goaway, `no GOAWAY over TLS after ${f.sent} streams: ${JSON.stringify(f)}`);
    assert.equal(f.goaway.code, ENHANCE_YOUR_CALM);
    assert.ok(f.closed);
    assert.ok(f.goaway.last < 1000, `last stream ${f.goaway.last}`);
    assert.deepEqual(h.fail, {}, 'HTTP/1.1 over TLS failed');
    assert.ok(all.length > base + 5, 'HTTP/1.1 over TLS served during the flood');
    const r = await politeClient(url, true);
    assert.equal(r.goaway, null, JSON.stringify(r));
    assert.ok(r.open && r.ok === 91, JSON.stringify(r));
    assert.equal(await metric(gw.adminPort, 'tm_gateway_h2_rapid_reset_total'), 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
