// The gateway's bounded flush (services/gateway/ws_conn.h, ws_local_flush): one loop pass
// writes at most TM_WS_FLUSH_SOCKETS sockets and leaves the rest for the next pass, which
// reads its input first. A gateway of our own (one loop thread) with TM_WS_FLUSH_SOCKETS=2
// serves 8 sockets of a workspace room while tasks are created 8 at a time: every broadcast
// takes several passes, so frames of the next event join frames still queued. Shown:
// - every socket gets every event once, gapless and in seq order (no frame lost, reordered
//   or written twice across passes);
// - passes were cut short (tm_ws_flush_deferred_total grew) and no socket was dropped;
// - the loop stays responsive while a broadcast is being written: HTTP answers in between.
// Env: TM_TEST_GATEWAY_URL (the stack, for the creates), TM_TEST_NATS_URL, TM_TEST_STATE;
// the gateway binary as in lib/procs.mjs (TM_TEST_GATEWAY_BIN).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';
import { metric, startGateway, stop } from './lib/procs.mjs';
import { openWsUrl, sleep } from './lib/ws.mjs';

const SOCKETS = 8;
const TASKS = 48;
const PARALLEL = 8;
let gw, A, wsId, room;

before(async () => {
  gw = await startGateway({ TM_GATEWAY_THREADS: '1', TM_WS_FLUSH_SOCKETS: '2', TM_RATE_USER_RPS: '0' });
  A = await registerAndLogin('flush');
  wsId = expectStatus(await api('POST', '/api/v1/workspaces', { token: A.access_token, body: { name: 'flush' } }), 201).json.id;
  room = `workspace:${wsId}`;
});

after(async () => {
  if (gw) await stop(gw);
});

test('frames written over several loop passes: every socket gets every event once, in order', { timeout: 120000 }, async (t) => {
  const wsUrl = `ws://127.0.0.1:${gw.port}/ws`;
  const socks = await Promise.all(Array.from({ length: SOCKETS }, () => openWsUrl(wsUrl, A.access_token)));
  const start = [];
  for (const s of socks) {
    s.send({ op: 'subscribe', room });
    const op = await s.next((o) => o.op === 'subscribed' || o.op === 'error');
    assert.equal(op.op, 'subscribed', JSON.stringify(op));
    start.push(op.seq);
  }
  const deferred0 = await metric(gw.adminPort, 'tm_ws_flush_deferred_total');
  const sent0 = await metric(gw.adminPort, 'tm_ws_messages_sent_total');
  const writes0 = await metric(gw.adminPort, 'tm_ws_writes_total');
  assert.notEqual(deferred0, null, 'tm_ws_flush_deferred_total is exported');

  const ids = [];
  for (let i = 0; i < TASKS; i += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, TASKS - i) }, (_, j) =>
      api('POST', '/api/v1/tasks', { token: A.access_token, body: { workspace_id: wsId, title: `flush ${i + j}` } }));
    for (const r of await Promise.all(batch)) ids.push(expectStatus(r, 201, 'create').json.id);
  }
  // our gateway answers HTTP between the passes of a broadcast
  const probe = await fetch(`${gw.base}/healthz`);
  assert.equal(probe.status, 200);

  const created = (s) => s.inbox.filter((o) => o.op === 'event' && o.type === 'task.created');
  for (let k = 0; k < 150 && socks.some((s) => created(s).length < TASKS); k++) await sleep(100);
  for (const [i, s] of socks.entries()) {
    const events = s.inbox.filter((o) => o.op === 'event' && o.room === room);
    const seqs = events.map((e) => e.seq);
    assert.equal(created(s).length, TASKS, `socket ${i}: every create once`);
    for (let j = 0; j < seqs.length; j++) assert.equal(seqs[j], start[i] + 1 + j, `socket ${i}: gapless, in order, no duplicates`);
    assert.deepEqual(new Set(created(s).map((e) => e.data.id)), new Set(ids), `socket ${i}: the created tasks`);
  }
  const deferred = (await metric(gw.adminPort, 'tm_ws_flush_deferred_total')) - deferred0;
  const sent = (await metric(gw.adminPort, 'tm_ws_messages_sent_total')) - sent0;
  const writes = (await metric(gw.adminPort, 'tm_ws_writes_total')) - writes0;
  assert.ok(deferred > 0, `passes left sockets for the next one (${deferred})`);
  assert.ok(sent >= SOCKETS * TASKS, `frames sent ${sent}`);
  assert.ok(writes <= sent, `at most one write per frame (${writes} writes, ${sent} frames)`);
  assert.equal(await metric(gw.adminPort, 'tm_ws_dropped_slow_total'), 0);
  t.diagnostic(`deferred passes ${deferred}, ${writes} writes for ${sent} frames`);
  await Promise.all(socks.map((s) => s.close()));
});
