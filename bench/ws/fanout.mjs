// One fan-out measurement (bench/ws/run.sh runs it for each server). Usage:
//   node fanout.mjs --target taskmesh|ws|socketio --url http://127.0.0.1:PORT --pid PID
//        --conns N --messages M [--token T --room workspace:<id>]
// Prints one JSON line: conns, rss_kib_idle_per_1000, latency p50/p99 (ms, from the
// triggering POST to receipt on a socket), deliveries/s, server CPU us per delivery.
import fs from 'node:fs';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const { target, url, room, token } = args;
const pid = Number(args.pid);
const conns = Number(args.conns || 1000);
const messages = Number(args.messages || 50);
const tick = Number(fs.readFileSync('/proc/self/stat', 'utf8') && 100); // USER_HZ

const rssKiB = () => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
const cpu = () => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / tick, sys: Number(f[12]) / tick };
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let received = 0;
const arrivals = new Map(); // message tag -> [times]
function onMessage(text) {
  const m = /"bench":"(\d+)"/.exec(text) || /bench (\d+)/.exec(text);
  if (!m) return;
  received++;
  const t = arrivals.get(m[1]);
  if (t) t.push(performance.now());
}

function openOne() {
  return new Promise((resolve, reject) => {
    if (target === 'socketio') {
      const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
      s.on('connect', () => resolve(s));
      s.on('connect_error', reject);
      s.on('m', (text) => onMessage(text));
      return;
    }
    const wsUrl = url.replace(/^http/, 'ws') + '/ws';
    const ws = new WebSocket(wsUrl, { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false });
    ws.on('message', (d) => {
      const text = d.toString();
      if (text.startsWith('{"op":"subscribed"')) ws.emit('subscribed');
      if (text.startsWith('{"op":"error"')) reject(new Error(`subscribe refused: ${text}`));
      onMessage(text);
    });
    ws.on('open', () => {
      if (target !== 'taskmesh') return resolve(ws);
      ws.send(JSON.stringify({ op: 'subscribe', room }));
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
  for (let j = i; j < Math.min(conns, i + 200); j++) batch.push(openOne());
  sockets.push(...(await Promise.all(batch)));
}
await sleep(2000);
const rss1 = rssKiB();
const c0 = cpu();
const starts = new Map();
const tStart = performance.now();
for (let i = 0; i < messages; i++) {
  starts.set(String(i), await trigger(i));
  await sleep(Number(args.gap || 50));
}
const want = conns * messages;
for (let k = 0; k < 300 && received < want; k++) await sleep(100);
const elapsed = (performance.now() - tStart) / 1000;
const c1 = cpu();
const lat = [];
for (const [tag, times] of arrivals) for (const t of times) lat.push(t - starts.get(tag));
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
const out = {
  target, conns: sockets.length, messages, received, expected: want,
  rss_kib_before: rss0, rss_kib_idle: rss1,
  rss_kib_per_1000_idle: Math.round(((rss1 - rss0) / sockets.length) * 1000),
  latency_ms_p50: q(0.5) && Number(q(0.5).toFixed(2)), latency_ms_p99: q(0.99) && Number(q(0.99).toFixed(2)),
  deliveries_per_s: Math.round(received / elapsed),
  server_cpu_us_per_delivery_user: Number((((c1.user - c0.user) * 1e6) / Math.max(1, received)).toFixed(2)),
  server_cpu_us_per_delivery_sys: Number((((c1.sys - c0.sys) * 1e6) / Math.max(1, received)).toFixed(2)),
};
console.log(JSON.stringify(out));
for (const s of sockets) (s.disconnect ? s.disconnect() : s.terminate());
process.exit(0);
