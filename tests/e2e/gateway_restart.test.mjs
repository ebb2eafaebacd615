// Zero-downtime restarts under a steady request stream:
//  - tm-gateway: a second gateway takes the same port (SO_REUSEPORT), then the first gets
//    SIGTERM: it stops accepting, finishes what is in flight and exits 0; no request of
//    the stream fails (503 "before any work" is tolerated, and counted).
//  - tm-task: a second replica joins the queue group, then gets SIGTERM while the stream
//    runs through the stack's gateway: it finishes its in-flight work and exits 0, and no
//    request fails.
//  - tm-realtime and tm-ai: two more replicas join the queue group (one worker each, so
//    that a share of the stream waits in their queues); the first gets SIGTERM while it
//    holds queued work (two other replicas remain), then the second (the stack's replica
//    is then the only one). Each exits 0 and no request of the stream fails.
// (The stack's own daemons are never signalled.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { registerAndLogin, api, expectStatus, BASE_URL } from './lib/client.mjs';
import {
  GATEWAY_BIN, TASK_BIN, PUBKEY, PRIVKEY, NATS_URL, startGateway, start, stop, stopAll,
  freePort, waitFor, sleep, metric, httpGet, findBinary,
} from './lib/procs.mjs';

const RT_BIN = findBinary('TM_TEST_REALTIME_BIN', 'realtime', 'tm-realtime');
const AI_BIN = findBinary('TM_TEST_AI_BIN', 'ai', 'tm-ai');

const SKIP = !GATEWAY_BIN || !fs.existsSync(PUBKEY) ? 'tm-gateway binary or stack keys not found' : false;
const st = {};

before(async () => {
  if (SKIP) return;
  st.user = await registerAndLogin('restart');
});
after(async () => { await stopAll(); });

/**
 * Requests on base from `workers` clients until stopped; tallies outcomes. clients is a list
 * of {token, reqs: [{method, path, body}]}; worker i acts for clients[i % n] and takes its
 * requests in turn (one user per client spreads a per-user rate limit).
 */
function stream(base, clients, workers = 8, pauseMs = 0, keepAlive = true) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: workers }) : false;
  const tally = { ok: 0, s503: 0, other: [], errors: [], running: true };
  const one = (r, token) => new Promise((resolve) => {
    const body = r.body === undefined ? null : JSON.stringify(r.body);
    const headers = { authorization: `Bearer ${token}` };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request(base + r.path, { method: r.method, agent, headers, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) tally.ok++;
        else if (res.statusCode === 503) tally.s503++;
        else tally.other.push(`${r.method} ${r.path.split('?')[0]} ${res.statusCode}`);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => { tally.errors.push(e.code || e.message); resolve(); });
    req.end(body);
  });
  const loops = [];
  for (let i = 0; i < workers; i++) {
    loops.push((async () => {
      const c = clients[i % clients.length];
      for (let n = i; tally.running; n++) {
        await one(c.reqs[n % c.reqs.length], c.token);
        if (pauseMs) await sleep(pauseMs);
      }
    })());
  }
  tally.summary = () => {
    const count = {};
    for (const e of [...tally.errors, ...tally.other]) count[e] = (count[e] || 0) + 1;
    return count;
  };
  tally.stop = async () => { tally.running = false; await Promise.all(loops); if (agent) agent.destroy(); return tally; };
  return tally;
}

const me = (u) => [{ token: u.access_token, reqs: [{ method: 'GET', path: '/api/v1/me' }] }];

test('gateway restart on the same port: no failed request, exit 0', { skip: SKIP, timeout: 60000 }, async () => {
  const port = await freePort();
  const a = await startGateway({ TM_DRAIN_TIMEOUT: '5s', TM_RATE_USER_RPS: '0' }, port);
  const s = stream(a.base, me(st.user), 6);
  const fresh = stream(a.base, me(st.user), 3, 0, false); // a connection per request
  await sleep(1000);
  const b = await startGateway({ TM_DRAIN_TIMEOUT: '5s', TM_RATE_USER_RPS: '0' }, port);
  await sleep(300);
  const okBefore = s.ok;
  a.kill('SIGTERM');
  const exit = await a.exited;
  await sleep(1000);
  const t = await s.stop();
  const f = await fresh.stop();
  assert.deepEqual(f.summary(), {}, `failed requests on fresh connections (ok ${f.ok})`);
  assert.ok(f.ok > 50, `fresh ok ${f.ok}`);
  assert.equal(exit.code, 0, `first gateway exit ${JSON.stringify(exit)}: ${a.out.slice(-500)}`);
  assert.ok(okBefore > 50 && t.ok > okBefore + 50, `requests served: ${okBefore} then ${t.ok}`);
  assert.deepEqual(t.summary(), {}, `failed requests (ok ${t.ok}); new gateway: ${b.out.slice(-400)}`);
  assert.ok((await metric(b.adminPort, 'tm_http_requests_total')) > 0, 'the new gateway served');
  await stop(b);
});

test('tm-task replica leaves under load: no failed request, exit 0', { skip: !TASK_BIN || !process.env.TM_TEST_TASK_PG_URL ? 'tm-task or TM_TEST_TASK_PG_URL missing' : SKIP, timeout: 60000 }, async () => {
  const admin = await freePort();
  const r2 = start(TASK_BIN, [], {
    TM_NATS_URL: NATS_URL, TM_PG_URL: process.env.TM_TEST_TASK_PG_URL, TM_ADMIN_PORT: String(admin),
    TM_JWT_PRIVATE_KEY_FILE: PRIVKEY, TM_JWT_ISSUER: 'taskmesh', TM_JWT_AUDIENCE: 'taskmesh-api',
    TM_LOG_LEVEL: 'warn', TM_DRAIN_TIMEOUT: '5s',
  });
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${admin}/readyz`)).status === 200, 'replica ready', 30000);
  // paced under the stack gateway's per-user limit (TM_RATE_USER_RPS 500)
  const s = stream(BASE_URL, me(st.user), 8, 25);
  await sleep(1500);
  const served = await metric(admin, 'tm_svc_requests_total');
  r2.kill('SIGTERM');
  const exit = await r2.exited;
  await sleep(1000);
  const t = await s.stop();
  assert.equal(exit.code, 0, `replica exit ${JSON.stringify(exit)}: ${r2.out.slice(-500)}`);
  assert.ok(served > 0, 'the replica took part of the stream');
  assert.deepEqual(t.summary(), {}, `failed requests (ok ${t.ok})`);
  assert.ok(t.ok > 100, `ok ${t.ok}`);
  assert.ok(t.s503 < 10, `503s ${t.s503}`);
});

/** The stack's Postgres URL for role tm_<svc> (TM_TEST_<SVC>_PG_URL overrides). */
function pgUrlFor(svc) {
  const own = process.env[`TM_TEST_${svc.toUpperCase()}_PG_URL`];
  if (own) return own;
  if (!process.env.TM_TEST_PG_URL) return null;
  const u = new URL(process.env.TM_TEST_PG_URL);
  u.username = `tm_${svc}`;
  u.password = '';
  return u.toString();
}

/** One more replica of svc on the stack's NATS and Postgres (env as scripts/lib/stack.sh
 * daemon_env gives that service, migrations from the binary's default folder). One worker:
 * its queue then holds part of the stream. Resolves once /readyz is 200. */
async function startReplica(bin, svc, extra = {}) {
  const admin = await freePort();
  const p = start(bin, [], {
    TM_NATS_URL: NATS_URL, TM_PG_URL: pgUrlFor(svc), TM_ADMIN_PORT: String(admin),
    TM_JWT_ISSUER: 'taskmesh', TM_JWT_AUDIENCE: 'taskmesh-api', TM_LOG_LEVEL: 'warn',
    TM_DRAIN_TIMEOUT: '5s', TM_WORKERS: '1', ...extra,
  });
  p.admin = admin;
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${admin}/readyz`)).status === 200, `${svc} replica ready`, 60000);
  return p;
}

/** Wait until the replica has work queued behind its busy worker, then SIGTERM it.
 * Resolves {exit, queued, served} (queued/served: its figures just before the signal). */
async function termWhileBusy(p) {
  let queued = 0;
  const until = Date.now() + 15000;
  while (queued < 1 && Date.now() < until) queued = (await metric(p.admin, 'tm_svc_queue_depth')) || 0;
  const served = await metric(p.admin, 'tm_svc_requests_total');
  p.kill('SIGTERM');
  const exit = await p.exited;
  return { exit, queued, served };
}

/** Two replicas of svc join, the stream runs; SIGTERM the first (the stack's replica and
 * the second remain), then the second (the stack's is the only one left). */
async function replicasLeave(svc, bin, clients, extra = {}) {
  const r1 = await startReplica(bin, svc, extra);
  const r2 = await startReplica(bin, svc, extra);
  const s = stream(BASE_URL, clients, 12, 5);
  await sleep(1500);
  const first = await termWhileBusy(r1);
  await sleep(1000);
  const okMid = s.ok;
  const second = await termWhileBusy(r2);
  await sleep(1000);
  const t = await s.stop();
  const why = (p) => p.out.slice(-800);
  for (const [name, r, p] of [['first', first, r1], ['second', second, r2]]) {
    assert.equal(r.exit.code, 0, `${svc} ${name} replica exit ${JSON.stringify(r.exit)}: ${why(p)}`);
    assert.ok(r.served > 0, `${svc} ${name} replica took part of the stream`);
    assert.ok(r.queued >= 1, `${svc} ${name} replica held no queued work when signalled`);
  }
  assert.deepEqual(t.summary(), {}, `${svc}: failed requests (ok ${t.ok}, 503 ${t.s503})`);
  assert.ok(okMid > 100 && t.ok > okMid + 50, `${svc}: requests served ${okMid} then ${t.ok}`);
  // 503 "before any work" is tolerated (the service refused while draining); counted
  assert.ok(t.s503 < 10, `${svc}: 503s ${t.s503}`);
  return { ok: t.ok, s503: t.s503, queued: [first.queued, second.queued] };
}

const REPLICA_SKIP = (bin, svc) => (!bin || !pgUrlFor(svc) ? `tm-${svc} binary or TM_TEST_PG_URL missing` : SKIP);

/** A fresh user owning a fresh workspace. */
async function owner(prefix) {
  const u = await registerAndLogin(prefix);
  u.ws = expectStatus(await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: prefix } }), 201, 'ws').json;
  return u;
}

test('tm-realtime replicas leave under load: no failed request, exit 0', { skip: REPLICA_SKIP(RT_BIN, 'realtime'), timeout: 120000 }, async (t) => {
  const clients = [];
  // six users (2 of the 12 stream workers each): the stream (~1,200 req/s here) stays under the stack's
  // per-user rate limit (500/s after a burst of 1,000), so every 429 would be a real failure
  for (const p of ['a', 'b', 'c', 'd', 'e', 'f']) {
    const u = await owner(`restart-rt-${p}`);
    clients.push({ token: u.access_token, reqs: [
      { method: 'GET', path: '/api/v1/notifications' },
      { method: 'GET', path: `/api/v1/workspaces/${u.ws.id}/presence` },
    ] });
  }
  const extra = process.env.TM_TEST_RT_HISTORY_EVENTS
    ? { TM_RT_HISTORY_EVENTS: process.env.TM_TEST_RT_HISTORY_EVENTS, TM_RT_PRUNE_INTERVAL: '1s' } : {};
  const r = await replicasLeave('realtime', RT_BIN, clients, extra);
  t.diagnostic(`realtime: ${JSON.stringify(r)}`);
});

test('tm-ai replicas leave under load: no failed request, exit 0', { skip: REPLICA_SKIP(AI_BIN, 'ai'), timeout: 120000 }, async (t) => {
  const reqs = [
    { method: 'POST', path: '/api/v1/ai/parse', body: { text: 'Call Bob tomorrow 5pm p1 #work', timezone: 'UTC' } },
    { method: 'GET', path: '/api/v1/ai/insights?timezone=UTC' },
  ];
  const users = []; // six: see the tm-realtime test
  for (const p of ['a', 'b', 'c', 'd', 'e', 'f']) users.push(await registerAndLogin(`restart-ai-${p}`));
  const r = await replicasLeave('ai', AI_BIN, users.map((u) => ({ token: u.access_token, reqs })));
  t.diagnostic(`ai: ${JSON.stringify(r)}`);
});
