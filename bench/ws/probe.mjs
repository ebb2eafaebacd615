// HTTP latency of the gateway while it writes a fan-out (bench/ws/run.sh, BENCH_HTTP_PROBE=1):
//   node probe.mjs --port P --admin A --frames N
// GETs /healthz on P every 10 ms over one keep-alive connection and reads the admin port's
// tm_ws_messages_sent_total every 20 ms; on SIGTERM prints one JSON line with the latency
// of the probes sent while the last N frames went out (from the 3,000th to N - 3,000th):
// how long a request waits behind a broadcast on the same loop thread.
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const port = Number(args.port);
const admin = Number(args.admin);
const frames = Number(args.frames);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const get = (p, path, a) => new Promise((resolve) => {
  const t0 = performance.now();
  http.get({ host: '127.0.0.1', port: p, path, agent: a }, (r) => {
    let b = '';
    r.on('data', (d) => (b += d));
    r.on('end', () => resolve({ t0, t1: performance.now(), b }));
  }).on('error', () => resolve(null));
});

const samples = []; // [time, frames sent]
const probes = []; // [start, ms]
let running = true;

process.on('SIGTERM', () => {
  running = false;
  const out = { http_probe: '/healthz every 10 ms', probes: 0 };
  if (samples.length > 0) {
    const fin = samples[samples.length - 1][1];
    const lo = fin - frames + 3000;
    const hi = fin - 3000;
    const tLo = samples.find((s) => s[1] >= lo)?.[0];
    const tHi = [...samples].reverse().find((s) => s[1] <= hi)?.[0];
    const lat = probes.filter(([t]) => t >= tLo && t <= tHi).map(([, ms]) => ms).sort((a, b) => a - b);
    const q = (p) => (lat.length ? Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1)) : null);
    Object.assign(out, {
      window_ms: Math.round(tHi - tLo), probes: lat.length,
      p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: lat.length ? Number(lat[lat.length - 1].toFixed(1)) : null,
    });
  }
  console.log(JSON.stringify(out));
  process.exit(0);
});

(async () => {
  while (running) {
    const r = await get(admin, '/metrics');
    const m = r && /^tm_ws_messages_sent_total (\d+)/m.exec(r.b);
    if (m) samples.push([r.t1, Number(m[1])]);
    await sleep(20);
  }
})();
while (running) {
  const r = await get(port, '/healthz', agent);
  if (r) probes.push([r.t0, r.t1 - r.t0]);
  await sleep(10);
}
