// One fan-out measurement (bench/ws/run.sh runs it for each server). Usage:
//   node fanout.mjs --target taskmesh|ws|socketio --url http://127.0.0.1:PORT --pid PID
//        --conns N --messages M [--token T --room workspace:<id>]
//        [--sources K] [--gap MS] [--burst B]
// Prints one JSON line: conns held, server RSS growth per 1,000 idle connections (KiB),
// latency p50/p99 (ms, from the triggering POST to receipt on a socket), deliveries/s,
// server CPU us per delivery (user and kernel), server write system calls per delivery
// and deliveries lost. [--metrics URL]: the gateway's /metrics (its write count).
// Sockets are spread over K source addresses 127.0.0.2 .. 127.0.0.(K+1): one address
// has ~28k ephemeral ports, and the same client connects to every server of the run.
import fs from 'node:fs';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const { target, url, room, token } = args;
const pid = Number(args.pid);
const conns = Number(args.conns || 1000);
const messages = Number(args.messages || 50);
const sources = Math.max(1, Number(args.sources || 1));
const burst = Math.max(1, Number(args.burst || 1));
const tick = 100; // USER_HZ of /proc/<pid>/stat on Linux

const rssKiB = () => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
const cpu = () => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / tick, sys: Number(f[12]) / tick };
};
// Write system calls: /proc/<pid>/io syscw counts write/writev (Node, h2o); tm-gateway
// writes WebSocket frames with sendmsg, which syscw does not see, and counts them itself
// (tm_ws_writes_total on --metrics; a gateway without it wrote with writev: syscw).
const writes = async () => {
  const m = args.metrics && /^tm_ws_writes_total (\d+)/m.exec(await (await fetch(args.metrics)).text());
  if (m) return Number(m[1]);
  return Number(fs.readFileSync(`/proc/${pid}/io`, 'utf8').match(/syscw:\s+(\d+)/)[1]);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SUBSCRIBE_TRIES = 20;
let received = 0;
let retries = 0; // subscribes sent again after "unavailable"
const arrivals = new Map(); // message tag -> [times]
function onMessage(text) {
  const m = /"bench":"(\d+)"/.exec(text) || /bench (\d+)/.exec(text);
  if (!m) return;
  received++;
  const t = arrivals.get(m[1]);
  if (t) t.push(performance.now());
}

function openOne(i) {
  const localAddress = `127.0.0.${2 + (i % sources)}`;
  return new Promise((resolve, reject) => {
    if (target === 'socketio') {
      const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, localAddress });
      s.on('connect', () => resolve(s));
      s.on('connect_error', reject);
      s.on('m', (text) => onMessage(text));
      return;
    }
    const wsUrl = url.replace(/^http/, 'ws') + '/ws';
    const ws = new WebSocket(wsUrl, { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false, localAddress });
    let tries = 0;
    const subscribe = () => ws.send(JSON.stringify({ op: 'subscribe', room }));
    ws.on('message', (d) => {
      const text = d.toString();
      if (text.startsWith('{"op":"subscribed"')) ws.emit('subscribed');
      // tm-realtime answers 503 while 10,000 connects and subscribes queue up: do what the
      // error says (retry later), a bounded number of times
      if (text.startsWith('{"op":"error"') && text.includes('"unavailable"') && ++tries <= SUBSCRIBE_TRIES) {
        retries++;
        setTimeout(subscribe, 200 + Math.random() * 800);
      } else if (text.startsWith('{"op":"error"')) {
        reject(new Error(`subscribe refused: ${text}`));
      }
      onMessage(text);
    });
    ws.on('open', () => {
      if (target !== 'taskmesh') return resolve(ws);
      subscribe();
      ws.once('subscribed', () => resolve(ws));
    });
    ws.on('error', reject);
  });
}

async function trigger(i) {
  const tag = String(i);
  arrivals.set(tag, []);
  const t0 = performance.now();
  if (target === 'taskmesh') {
    const ws_id = room.split(':')[1];
    const r = await fetch(`${url}/api/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ workspace_id: ws_id, title: `bench ${tag}` }),
    });
    if (r.status !== 201) throw new Error(`create task: ${r.status} ${await r.text()}`);
  } else {
    const body = JSON.stringify({ op: 'event', room: 'workspace:x', seq: i, type: 'task.created', data: { title: `bench ${tag}`, bench: tag, pad: 'x'.repeat(300) } });
    await fetch(`${url}/broadcast`, { method: 'POST', body });
  }
  return t0;
}

const rss0 = rssKiB();
const sockets = [];
for (let i = 0; i < conns; i += 200) {
  const batch = [];
  for (let j = i; j < Math.min(conns, i + 200); j++) batch.push(openOne(j));
  sockets.push(...(await Promise.all(batch)));
}
await sleep(2000);
const rss1 = rssKiB();
const c0 = cpu();
const w0 = await writes();
const starts = new Map();
const tStart = performance.now();
// --burst B sends B triggers at once (then waits --gap ms): deliveries then reach the
// server faster than one broadcast at a time, as under load
for (let i = 0; i < messages; i += burst) {
  const group = [];
  for (let j = i; j < Math.min(messages, i + burst); j++) group.push(trigger(j).then((t0) => starts.set(String(j), t0)));
  await Promise.all(group);
  await sleep(Number(args.gap || 50));
}
const want = conns * messages;
for (let k = 0; k < 300 && received < want; k++) await sleep(100);
const elapsed = (performance.now() - tStart) / 1000;
const c1 = cpu();
const w1 = await writes();
const lat = [];
for (const [tag, times] of arrivals) for (const t of times) lat.push(t - starts.get(tag));
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
const out = {
  target, conns: sockets.length, messages, burst, received, expected: want,
  rss_kib_before: rss0, rss_kib_idle: rss1,
  rss_kib_per_1000_idle: Math.round(((rss1 - rss0) / sockets.length) * 1000),
  latency_ms_p50: q(0.5) && Number(q(0.5).toFixed(2)), latency_ms_p99: q(0.99) && Number(q(0.99).toFixed(2)),
  deliveries_per_s: Math.round(received / elapsed),
  server_cpu_us_per_delivery_user: Number((((c1.user - c0.user) * 1e6) / Math.max(1, received)).toFixed(2)),
  server_cpu_us_per_delivery_sys: Number((((c1.sys - c0.sys) * 1e6) / Math.max(1, received)).toFixed(2)),
  server_writes_per_delivery: Number(((w1 - w0) / Math.max(1, received)).toFixed(3)),
  lost: want - received,
  subscribe_retries: retries,
};
console.log(JSON.stringify(out));
for (const s of sockets) (s.disconnect ? s.disconnect() : s.terminate());
process.exit(0);
