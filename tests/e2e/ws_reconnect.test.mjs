// WebSocket clients that drop TCP without a close frame and come back with `resume`, many
// times, several in parallel, while room events (tasks created) and typing fan out to every
// gateway loop thread. Regression test for a gateway crash (heap-use-after-free in h2o's read
// on a loop thread: the loops' wake-up queues read into the main thread's unlocked buffer
// recycle list, and a delivery posted to every loop at once woke them together).
// Afterwards the gateway must still answer, every reconnect and resume must have worked, and
// every client must hold every seq from its first subscribe to the room's last event.
// Env: TM_TEST_GATEWAY_URL; TM_TEST_WS_RECONNECT_MS (churn duration, default 10000).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';
import { openWs, sleep } from './lib/ws.mjs';

const USERS = 5;
const PER_USER = 10; // under TM_WS_MAX_PER_USER (20) even with dropped sockets not yet reaped
const WRITERS = 2;
const WRITE_GAP_MS = 80; // ~20 events/s: a drop never spans more than the room history
const DURATION_MS = Number(process.env.TM_TEST_WS_RECONNECT_MS || 10000);
const ANSWER_MS = 8000;

let users, wsId, room;

before(async () => {
  users = await Promise.all(Array.from({ length: USERS }, (_, i) => registerAndLogin(`wsrc${i}`)));
  const owner = users[0];
  const w = expectStatus(await api('POST', '/api/v1/workspaces', { token: owner.access_token, body: { name: 'ws reconnect' } }), 201).json;
  wsId = w.id;
  room = `workspace:${wsId}`;
  for (const u of users.slice(1)) {
    expectStatus(await api('POST', `/api/v1/workspaces/${wsId}/members`, {
      token: owner.access_token, body: { user_id: u.user.id, role: 'editor' },
    }), 201, 'add member');
  }
});

/** One client: subscribes once, then drops and resumes until stopped. */
class Churner {
  constructor(token) {
    Object.assign(this, { token, first: -1, last: -1, seen: new Set(), rounds: 0, failures: [], notOk: 0, ws: null });
  }

  take(ops) {
    for (const o of ops) {
      if (o.op === 'event' && o.room === room && Number.isInteger(o.seq)) {
        this.seen.add(o.seq);
        if (o.seq > this.last) this.last = o.seq;
      }
    }
  }

  /** Connect, then subscribe (first time) or resume since the last seq; waits for the answer. */
  async connect() {
    const ws = await openWs(this.token);
    this.ws = ws;
    if (this.first < 0) {
      ws.send({ op: 'subscribe', room });
      const op = await ws.next((o) => (o.op === 'subscribed' && o.room === room) || o.op === 'error', ANSWER_MS);
      assert.equal(op.op, 'subscribed', JSON.stringify(op));
      this.first = this.last = op.seq;
    } else {
      ws.send({ op: 'resume', room, since: this.last });
      const op = await ws.next((o) => (o.op === 'recovered' && o.room === room) || o.op === 'error', ANSWER_MS, 'recovered');
      assert.equal(op.op, 'recovered', JSON.stringify(op));
      if (!op.ok) this.notOk++;
    }
    this.drain();
  }

  /** Move events from the inbox into seen (the inbox keeps everything else). */
  drain() {
    const ws = this.ws;
    if (!ws) return;
    this.take(ws.inbox);
    ws.inbox = ws.inbox.filter((o) => o.op !== 'event');
  }

  /** TCP close without a close frame. */
  async drop() {
    this.drain();
    const ws = this.ws;
    this.ws = null;
    ws.ws.terminate();
    await ws.closed;
    this.take(ws.inbox);
  }

  async churn(until) {
    while (Date.now() < until) {
      try {
        await this.connect();
        for (let i = 0; i < 3; i++) {
          this.ws.send({ op: 'typing', room });
          await sleep(30 + Math.random() * 80);
          this.drain();
        }
        await this.drop();
        this.rounds++;
      } catch (e) {
        this.failures.push(String(e.message || e).slice(0, 200));
        if (this.ws) await this.drop().catch(() => {});
        await sleep(100);
      }
    }
  }
}

async function gatewayAlive() {
  try {
    return (await api('GET', '/healthz')).status === 200;
  } catch {
    return false;
  }
}

test('clients that drop TCP and resume, many times in parallel: gateway survives, no event lost', async (t) => {
  const clients = [];
  let last = null;
  t.after(() => {
    for (const c of clients) c.ws?.ws.terminate();
    last?.ws.terminate();
  });
  for (const u of users) for (let i = 0; i < PER_USER; i++) clients.push(new Churner(u.access_token));
  const owner = users[0].access_token;
  const until = Date.now() + DURATION_MS;
  let created = 0, writeErrors = 0;
  const writer = async (n) => {
    for (let i = 0; Date.now() < until; i++) {
      const r = await api('POST', '/api/v1/tasks', { token: owner, body: { workspace_id: wsId, title: `churn ${n}.${i}` } }).catch(() => null);
      if (r?.status === 201) created++;
      else writeErrors++;
      if (writeErrors > 50) return;
      await sleep(WRITE_GAP_MS);
    }
  };
  await Promise.all([...clients.map((c) => c.churn(until)), ...Array.from({ length: WRITERS }, (_, n) => writer(n))]);

  assert.ok(await gatewayAlive(), 'the gateway answers /healthz after the churn');
  const failures = clients.flatMap((c) => c.failures);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} connect/subscribe/resume failures`);
  assert.equal(writeErrors, 0, 'every task create answered 201');
  assert.ok(created > 0, 'tasks were created');
  const rounds = clients.reduce((n, c) => n + c.rounds, 0);
  assert.ok(rounds >= clients.length * 2, `each client dropped and resumed several times (${rounds} rounds)`);

  // Final resume: everything up to the room's last event must arrive, each seq once.
  await Promise.all(clients.map((c) => c.connect()));
  last = await openWs(owner);
  const sub = await (async () => {
    last.send({ op: 'subscribe', room });
    return last.next((o) => o.op === 'subscribed' && o.room === room);
  })();
  const head = sub.seq;
  const deadline = Date.now() + ANSWER_MS;
  while (Date.now() < deadline && !clients.every((c) => (c.drain(), c.last >= head))) await sleep(100);
  let missing = 0;
  const gaps = [];
  for (const c of clients) {
    for (let s = c.first + 1; s <= head; s++) {
      if (c.seen.has(s)) continue;
      missing++;
      if (gaps.length < 5) gaps.push(`seq ${s} (client first ${c.first}, last ${c.last}, not ok ${c.notOk})`);
    }
  }
  assert.equal(missing, 0, `events missing over ${clients.length} clients (head ${head}): ${gaps.join('; ')}`);
  assert.equal(clients.reduce((n, c) => n + c.notOk, 0), 0, 'every resume answered recovered ok:true');
  await Promise.all([...clients.map((c) => c.ws.close()), last.close()]);
  assert.ok(await gatewayAlive(), 'the gateway still answers');
});
