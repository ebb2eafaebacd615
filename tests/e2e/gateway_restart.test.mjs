// Zero-downtime restarts under a steady request stream:
//  - tm-gateway: a second gateway takes the same port (SO_REUSEPORT), then the first gets
//    SIGTERM: it stops accepting, finishes what is in flight and exits 0; no request of
//    the stream fails (503 "before any work" is tolerated, and counted).
//  - tm-task: a second replica joins the queue group, then gets SIGTERM while the stream
//    runs through the stack's gateway: it finishes its in-flight work and exits 0, and no
//    request fails. (The stack's own daemons are never signalled.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { registerAndLogin, BASE_URL } from './lib/client.mjs';
import {
  GATEWAY_BIN, TASK_BIN, PUBKEY, PRIVKEY, NATS_URL, startGateway, start, stop, stopAll,
  freePort, waitFor, sleep, metric, httpGet,
} from './lib/procs.mjs';

const SKIP = !GATEWAY_BIN || !fs.existsSync(PUBKEY) ? 'tm-gateway binary or stack keys not found' : false;
const st = {};

before(async () => {
  if (SKIP) return;
  st.user = await registerAndLogin('restart');
});
after(async () => { await stopAll(); });

/** GET path on base from `workers` keep-alive clients until stopped; tallies outcomes. */
function stream(base, path, token, workers = 8, pauseMs = 0, keepAlive = true) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: workers }) : false;
  const tally = { ok: 0, s503: 0, other: [], errors: [], running: true };
  const one = () => new Promise((resolve) => {
    const req = http.get(base + path, { agent, headers: { authorization: `Bearer ${token}` }, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) tally.ok++;
        else if (res.statusCode === 503) tally.s503++;
        else tally.other.push(res.statusCode);
        resolve();
      });
    });
    req.on('error', (e) => { tally.errors.push(e.code || e.message); resolve(); });
  });
  const loops = [];
  for (let i = 0; i < workers; i++) {
    loops.push((async () => { while (tally.running) { await one(); if (pauseMs) await sleep(pauseMs); } })());
  }
  tally.summary = () => {
    const count = {};
    for (const e of [...tally.errors, ...tally.other]) count[e] = (count[e] || 0) + 1;
    return count;
  };
  tally.stop = async () => { tally.running = false; await Promise.all(loops); if (agent) agent.destroy(); return tally; };
  return tally;
}

test('gateway restart on the same port: no failed request, exit 0', { skip: SKIP, timeout: 60000 }, async () => {
  const port = await freePort();
  const a = await startGateway({ TM_DRAIN_TIMEOUT: '5s', TM_RATE_USER_RPS: '0' }, port);
  const s = stream(a.base, '/api/v1/me', st.user.access_token, 6);
  const fresh = stream(a.base, '/api/v1/me', st.user.access_token, 3, 0, false); // a connection per request
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
  const s = stream(BASE_URL, '/api/v1/me', st.user.access_token, 8, 25);
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
