// Extra processes for e2e tests that need their own gateway (or service replica) beside
// the shared test stack: find the binaries, pick free ports below 32768, wait for
// readiness, stop only what was started here. Used by gateway_{cache,ratelimit,
// hardening,restart}.test.mjs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// The env override, else the newest build-dir services/<svc>/<name> in the repository.
export function findBinary(envName, svc, name) {
  if (process.env[envName]) return process.env[envName];
  const candidates = fs.readdirSync(ROOT)
    .filter((d) => d.startsWith('build'))
    .map((d) => path.join(ROOT, d, 'services', svc, name))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0];
}

export const GATEWAY_BIN = findBinary('TM_TEST_GATEWAY_BIN', 'gateway', 'tm-gateway');
export const TASK_BIN = findBinary('TM_TEST_TASK_BIN', 'task', 'tm-task');
export const STATE = process.env.TM_TEST_STATE || path.join(ROOT, '.state/test');
export const NATS_URL = process.env.TM_TEST_NATS_URL || 'nats://127.0.0.1:24222';
export const PUBKEY = path.join(STATE, 'keys/jwt-es256.pub.pem');
export const PRIVKEY = path.join(STATE, 'keys/jwt-es256.pem');

export async function freePort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

/** GET without keep-alive (an idle admin connection makes tm_admin_stop abort in h2o
 * 2.2.5: see the report in docs/benchmarks.md); resolves {status, text}. */
export function httpGet(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, what, ms = 15000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const started = [];

export function start(cmd, args, env = {}) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.out = '';
  p.stdout.on('data', (d) => { if (p.out.length < 1e6) p.out += d; });
  p.stderr.on('data', (d) => { if (p.out.length < 1e6) p.out += d; });
  p.exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve({ code, sig })));
  started.push(p);
  return p;
}

export async function stop(p, sig = 'SIGTERM') {
  if (p.exitCode === null && p.signalCode === null) p.kill(sig);
  return p.exited;
}

export async function stopAll() {
  for (const p of started.reverse()) await stop(p);
}

/** A gateway on its own ports against the stack's NATS; resolves once /readyz is 200. */
export async function startGateway(env = {}, port = null) {
  const httpPort = port ?? await freePort();
  const adminPort = await freePort();
  const p = start(GATEWAY_BIN, [], {
    TM_HTTP_HOST: '127.0.0.1', TM_HTTP_PORT: String(httpPort), TM_ADMIN_PORT: String(adminPort),
    TM_NATS_URL: NATS_URL, TM_JWT_PUBLIC_KEY_FILE: PUBKEY, TM_GATEWAY_THREADS: '2',
    TM_LOG_LEVEL: 'warn', ...env,
  });
  p.port = httpPort;
  p.adminPort = adminPort;
  p.base = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 'gateway ready');
  return p;
}

/** Read one counter/gauge (summed over label sets) from a daemon's /metrics. */
export async function metric(adminPort, name) {
  const { text } = await httpGet(`http://127.0.0.1:${adminPort}/metrics`);
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : null;
}
