// dos.mjs: denial-of-service checks against the gateway. A healthy client (authenticated
// GET /api/v1/workspaces, one at a time) runs through every phase; its p99 must stay
// <= 100 ms and the gateway must keep serving. Phases, one after another:
//   slow     slowhttptest slow headers + slow body (300 connections each, 20 s) and our own
//            slow sockets, each timed until the gateway closes it (<= 10 s)
//   bodies   2 MiB bodies to JSON routes: refused (413), never 5xx
//   idle-ws  1,000 idle WebSockets (50 users x 20, the per-user cap)
//   reset    10,000 HTTP/2 streams opened and reset at once (RST_STREAM CANCEL): each
//            session must be answered with GOAWAY ENHANCE_YOUR_CALM (h2guard)
// The gateway's RSS (VmRSS) may grow <= 50 MB from before the first phase to after the last.
import net from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { GW, api, now, result, sleep, user, workspace } from './lib.mjs';

const STATE = process.env.TM_TEST_STATE || '.state/rel';
const url = new URL(GW);
const PORT = Number(url.port);

function gatewayRssKb() {
  try {
    const pid = readFileSync(`${STATE}/pids/gateway.pid`, 'utf8').trim();
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** The healthy client: latencies per phase; failures are non-2xx answers or timeouts. */
function healthy(token) {
  const st = { phase: 'baseline', lat: {}, fail: {}, stop: false };
  st.done = (async () => {
    while (!st.stop) {
      const t0 = performance.now();
      const r = await api('GET', '/api/v1/workspaces', { token, timeout: 2000 });
      const ms = performance.now() - t0;
      (st.lat[st.phase] ||= []).push(ms);
      if (r.status !== 200) st.fail[st.phase] = (st.fail[st.phase] || 0) + 1;
      await sleep(20);
    }
  })();
  return st;
}
function p99(a) {
  if (!a || a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)];
}

function slowhttptest(mode, seconds) {
  return new Promise((resolve) => {
    const args = [mode, '-c', '300', '-r', '150', '-i', '2', '-l', String(seconds), '-p', '3', '-s', '65536',
      '-u', mode === '-B' ? `${GW}/api/v1/auth/login` : `${GW}/healthz`, '-v', '1'];
    const p = spawn('slowhttptest', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => resolve({ ok: false, out: String(e) }));
    p.on('close', (code) => resolve({ ok: code === 0, out }));
  });
}

/** One slow client: a request line, then one header byte per second; ms until closed. */
function slowSocket(body) {
  return new Promise((resolve) => {
    const t0 = now();
    const s = net.connect(PORT, '127.0.0.1');
    let timer;
    s.on('connect', () => {
      s.write(body ? `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{` :
        'GET /healthz HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => s.write(body ? ' ' : 'X-a: b\r\n'), 1000);
    });
    s.on('data', () => {}); // a 408 answer is fine; closing is what counts
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      resolve(now() - t0);
    });
    setTimeout(() => s.destroy(), 30000); // bound: counted as 30 s
  });
}

async function phaseSlow() {
  const [h, b, socks] = await Promise.all([
    slowhttptest('-H', 20),
    slowhttptest('-B', 20),
    Promise.all([...Array(20)].map((_, i) => slowSocket(i % 2 === 1))),
  ]);
  const worst = Math.max(...socks);
  const avail = (o) => {
    const all = [...o.out.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/service available:\s+(YES|NO)/gi)];
    return all.length ? all[all.length - 1][1] : '?';
  };
  console.log(`dos: slowhttptest -H exit ok=${h.ok} service available: ${avail(h)}; -B ok=${b.ok} service available: ${avail(b)}`);
  result('dos: slowhttptest ran (slow headers, slow body)', 'both ran', `${h.ok && b.ok ? 'both ran' : 'error'}`, h.ok && b.ok);
  result('dos: slowhttptest "service available" at the end (H / B)', 'YES / YES', `${avail(h)} / ${avail(b)}`,
    avail(h) === 'YES' && avail(b) === 'YES');
  // 10 s header/body timeout plus 0.5 s for the event loop's timer granularity and connect
  result('dos: slowest slow connection closed by the gateway (ms)', '<= 10500', worst, worst <= 10500);
}

async function phaseBodies(token, ws) {
  const big = 'x'.repeat(2 * 1024 * 1024);
  const statuses = {};
  const body = JSON.stringify({ workspace_id: ws, title: big });
  const paths = ['/api/v1/tasks', '/api/v1/auth/login', '/api/v1/workspaces', '/api/v1/ai/parse'];
  // 10 uploaders x 10 bodies each, so the healthy client gets a fair number of samples
  await Promise.all([...Array(100)].map(async (_, i) => {
    await sleep(Math.floor(i / 10) * 300);
    let s;
    try {
      const r = await fetch(GW + paths[i % paths.length], { method: 'POST', body, signal: AbortSignal.timeout(10000),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      await r.text();
      s = r.status;
    } catch (e) {
      s = 'closed'; // the gateway may close the connection instead of reading 2 MiB
    }
    statuses[s] = (statuses[s] || 0) + 1;
  }));
  const bad = Object.entries(statuses).filter(([k]) => k !== '413' && k !== 'closed').reduce((n, [, v]) => n + v, 0);
  result('dos: 100 x 2 MiB JSON bodies answered 413 (or closed)', '100', `${100 - bad} ${JSON.stringify(statuses)}`.slice(0, 40), bad === 0);
}

async function phaseIdleWs(users) {
  const socks = [];
  let opened = 0, refused = 0;
  const wsUrl = GW.replace(/^http/, 'ws') + '/ws';
  // GET /ws is rate limited per client IP (TM_RATE_IP_RPS): a 429 is retried after a pause,
  // within a 40 s deadline, so the 1,000 sockets arrive as fast as the gateway admits them
  const deadline = now() + 40000;
  const statuses = {};
  const one = (u) => new Promise((resolve) => {
    const s = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${u.token}` }, handshakeTimeout: 5000 });
    s.on('error', () => {});
    s.once('open', () => { opened++; socks.push(s); resolve(101); });
    s.once('unexpected-response', (_q, res) => { res.resume(); resolve(res.statusCode); });
    s.once('close', () => resolve(0));
  });
  await Promise.all(users.map(async (u) => {
    for (let i = 0; i < 20; i++) {
      let st;
      do {
        st = await one(u);
        if (st !== 101) { statuses[st] = (statuses[st] || 0) + 1; await sleep(250); }
      } while (st === 429 && now() < deadline);
      if (st !== 101) refused++;
    }
  }));
  console.log(`dos: idle ws: ${opened} opened, retried answers ${JSON.stringify(statuses)}`);
  await sleep(3000); // idle
  const alive = socks.filter((s) => s.readyState === WebSocket.OPEN).length;
  result('dos: idle WebSockets opened and still open after 3 s', '1000', `${alive} (refused ${refused})`, alive === 1000);
  for (const s of socks) s.terminate();
}

async function phaseReset() {
  const out = await new Promise((resolve) => {
    const p = spawn(process.execPath, [new URL('./h2reset.mjs', import.meta.url).pathname, String(PORT), '10000'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let o = '';
    p.stdout.on('data', (d) => (o += d));
    p.on('close', () => resolve(o));
  });
  let r = { streams: 0 };
  try { r = JSON.parse(out.trim().split('\n').pop()); } catch { /* counted as 0 */ }
  console.log(`dos: rapid reset ${r.streams} streams over ${r.sessions} sessions, ${r.goaway} GOAWAY (${r.calm} ENHANCE_YOUR_CALM, ${r.unanswered} sessions unanswered), ${r.ms} ms`);
  result('dos: HTTP/2 streams opened and reset', '10000', r.streams, r.streams >= 10000);
  result('dos: rapid-reset sessions answered with GOAWAY ENHANCE_YOUR_CALM (answered/sessions)', 'all; 0 unanswered',
    `${r.calm}/${r.sessions}; ${r.unanswered}`, r.calm >= 1 && r.unanswered === 0);
}

async function main() {
  const u = await user('dos');
  const ws = await workspace(u.token, 'dos');
  const users = [u];
  for (let i = 1; i < 50; i++) users.push(await user(`dos-ws-${i}`));
  const rss0 = gatewayRssKb();
  const h = healthy(u.token);
  await sleep(1000);
  for (const [name, fn] of [['slow', phaseSlow], ['bodies', () => phaseBodies(u.token, ws)],
    ['idle-ws', () => phaseIdleWs(users)], ['reset', phaseReset]]) {
    h.phase = name;
    try {
      await fn();
    } catch (e) {
      result(`dos: ${name} driver`, 'no error', String(e.message || e).slice(0, 60).replace(/\|/g, '/'), false);
    }
  }
  h.phase = 'after';
  await sleep(2000);
  h.stop = true;
  await h.done;
  const rss1 = gatewayRssKb();
  for (const ph of ['slow', 'bodies', 'idle-ws', 'reset', 'after']) {
    const n = h.lat[ph]?.length || 0;
    const f = h.fail[ph] || 0;
    const p = Math.round(p99(h.lat[ph]));
    result(`dos: healthy client p99 during ${ph} (ms; failed/total)`, '<= 100; 0 failed', `${p}; ${f}/${n}`, n > 0 && f === 0 && p <= 100);
  }
  const growMb = Math.round(((rss1 - rss0) / 1024) * 10) / 10;
  result('dos: gateway RSS growth (MB)', '<= 50', `${growMb} (${Math.round(rss0 / 1024)} -> ${Math.round(rss1 / 1024)})`,
    Number.isFinite(growMb) && growMb <= 50);
}

try {
  await main();
} catch (e) {
  result('dos: driver', 'no error', String(e.message || e).slice(0, 120).replace(/\|/g, '/'), false);
}
