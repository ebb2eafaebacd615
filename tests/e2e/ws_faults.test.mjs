// kill -9 of tm-realtime and of nats-server while room events flow (issue #5): in a private
// cluster (lib/cluster.mjs: its own nats-server with a JetStream file store, database,
// tm-task, tm-realtime, tm-gateway), WebSocket clients of several workspace members follow
// the workspace room while one writer creates and updates tasks through the gateway at a
// steady, bounded rate. tm-realtime is killed with SIGKILL and restarted, then nats-server
// is killed with SIGKILL and restarted on the same store. A client whose socket closes, or
// that stops receiving while writes are acknowledged, reconnects and sends
// {op:"resume", room, since: <last seq>}; on recovered {ok:false} it fills the gap from the
// REST change feed (proto/websocket.md). At the end every client must hold every event
// seq 1..N of the room exactly once and in order, with the event ids of the REST change
// feed (the truth), and N must match the acknowledged writes.
// Env: TM_TEST_PG_URL, TM_TEST_STATE (see lib/cluster.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';
import { apiAt, startCluster } from './lib/cluster.mjs';
import { metric, sleep } from './lib/procs.mjs';
import { openWsUrl } from './lib/ws.mjs';

const PASSWORD = 'correct-horse-battery-9';
const MEMBERS = 4; // the owner and three editors
const SOCKETS_PER_USER = 2;
const WRITERS = 2;
const WRITE_GAP_MS = 50; // each writer: one write at a time, then this pause (~30 writes/s in all)
const MAX_WRITES = 800; // over all writers
const ROUNDS = 2; // of (a) tm-realtime, (b) nats-server
const DOWN_MS = 1000; // how long a killed process stays down
const GIVE_UP_MS = 20000; // one write retried (same Idempotency-Key) at most this long
const STALL_MS = 6000; // no event for this long while the room moved on: reconnect + resume
const SETTLE_MS = 30000;

let cluster, room, wsId;
let users = [];

async function call(method, p, opts) {
  try {
    return await apiAt(cluster.base, method, p, opts);
  } catch (e) {
    return { status: 0, json: null, text: String(e.message || e) };
  }
}

async function mustCall(method, p, opts, want) {
  const r = await call(method, p, opts);
  if (r.status !== want) throw new Error(`${method} ${p}: expected ${want}, got ${r.status}: ${r.text.slice(0, 300)}`);
  return r.json;
}

async function newUser(prefix) {
  const email = `${prefix}-${randomUUID()}@test.local`;
  await mustCall('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: prefix } }, 201);
  const login = await mustCall('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD, device: 'e2e-faults' } }, 200);
  return { id: login.user.id, token: login.access_token };
}

/**
 * The workspace's events after `since` from the REST change feed, every page. A 503/504 (or
 * no answer) while nats-server is away is retried for up to 30 s, like a client would.
 */
async function changesSince(token, since, ws = wsId) {
  const out = [];
  for (let page = 0; page < 50; page++) {
    const p = `/api/v1/workspaces/${ws}/changes?since=${since}&limit=1000`;
    let r;
    for (const until = Date.now() + 30000; ;) {
      r = await call('GET', p, { token });
      if (![0, 502, 503, 504].includes(r.status) || Date.now() > until) break;
      await sleep(250);
    }
    if (r.status !== 200) throw new Error(`GET ${p}: expected 200, got ${r.status}: ${r.text.slice(0, 300)}`);
    out.push(...r.json.data);
    if (!r.json.has_more || r.json.data.length === 0) return out;
    since = r.json.next_since;
  }
  throw new Error('change feed: more than 50 pages');
}

async function streamState() {
  const r = await fetch(`${cluster.natsMonUrl}/jsz?streams=true`, { signal: AbortSignal.timeout(3000) });
  const j = await r.json();
  for (const acc of j.account_details || []) {
    for (const s of acc.stream_detail || []) if (s.name === 'TM_EVENTS') return s.state;
  }
  return null;
}

/**
 * WRITERS loops that create tasks and update them (every third write), each loop one write
 * at a time, each write with its own Idempotency-Key and retried with the same key until
 * acknowledged, so that each acknowledged write is exactly one committed change.
 */
class Writer {
  constructor(token) {
    Object.assign(this, { token, created: [], updated: 0, gaveUp: 0, statuses: {}, lastAckAt: 0, stopping: false, n: 0 });
  }

  get acked() {
    return this.created.length + this.updated;
  }

  async write(i) {
    const update = this.created.length >= 3 && i % 3 === 2;
    const id = update ? this.created[i % this.created.length] : null;
    const [method, p, body] = update
      ? ['PATCH', `/api/v1/tasks/${id}`, { title: `updated ${i}` }]
      : ['POST', '/api/v1/tasks', { workspace_id: wsId, title: `fault ${i}` }];
    const headers = { 'idempotency-key': randomUUID() };
    const t0 = Date.now();
    for (;;) {
      const r = await call(method, p, { token: this.token, body, headers, timeout: 6000 });
      if (r.status === 200 || r.status === 201) {
        if (update) this.updated++;
        else this.created.push(r.json.id);
        this.lastAckAt = Date.now();
        return;
      }
      this.statuses[r.status] = (this.statuses[r.status] || 0) + 1;
      if (Date.now() - t0 > GIVE_UP_MS) {
        this.gaveUp++;
        return;
      }
      await sleep(150);
    }
  }

  run() {
    const loop = async (w) => {
      for (let i = w; i < MAX_WRITES && !this.stopping && this.gaveUp === 0; i += WRITERS) {
        await this.write(i);
        await sleep(WRITE_GAP_MS);
      }
    };
    this.done = Promise.all(Array.from({ length: WRITERS }, (_, w) => loop(w)));
    return this;
  }

  async stop() {
    this.stopping = true;
    await this.done;
  }

  /** Resolves once `count` more writes were acknowledged (or the deadline passed). */
  async acks(count, ms) {
    const want = this.acked + count;
    for (const until = Date.now() + ms; this.acked < want && Date.now() < until;) await sleep(50);
    return this.acked >= want;
  }
}

/**
 * One WebSocket follower of the room. Every server op, close and reconnect goes through one
 * promise chain, so `last` always reflects what was processed before a resume is sent.
 */
class Follower {
  constructor(name, token) {
    Object.assign(this, {
      name, token, seqs: [], ids: new Map(), last: 0, restMax: 0, dups: 0, gaps: [], recovered: { ok: 0, notOk: 0 },
      restFilled: 0, reconnects: 0, stallReconnects: 0, closes: {}, errors: {}, failures: [],
      chain: Promise.resolve(), ws: null, gen: 0, stopped: false, progressAt: Date.now(), openedAt: 0, resumeRetries: 0,
    });
  }

  enqueue(fn) {
    this.chain = this.chain.then(fn).catch((e) => this.failures.push(String(e.message || e).slice(0, 200)));
    return this.chain;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(cluster.wsUrl, { headers: { authorization: `Bearer ${this.token}` }, handshakeTimeout: 3000 });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (req, res) => {
        req.destroy();
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      });
      ws.once('error', reject);
    });
  }

  async connect() {
    let ws;
    for (let a = 0; ; a++) {
      if (this.stopped) return;
      try {
        ws = await this.open();
        break;
      } catch (e) {
        if (a >= 60) throw new Error(`${this.name}: no connection after 60 tries: ${e.message}`);
        await sleep(Math.min(1000, 100 * (a + 1)));
      }
    }
    const gen = ++this.gen;
    this.ws = ws;
    this.openedAt = Date.now();
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let op;
      try {
        op = JSON.parse(data.toString());
      } catch {
        op = { op: '<non-json>' };
      }
      this.enqueue(() => this.onOp(op, gen));
    });
    ws.on('close', (code) => this.enqueue(() => this.onClose(code, gen)));
    this.resume(ws);
  }

  resume(ws) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ op: 'resume', room, since: this.last }));
  }

  accept(seq, eventId) {
    if (seq <= this.last) {
      this.dups++;
      return;
    }
    if (seq !== this.last + 1) this.gaps.push(`${this.last}->${seq}`);
    this.seqs.push(seq);
    this.ids.set(seq, eventId);
    this.last = seq;
    this.progressAt = Date.now();
  }

  async onOp(op, gen) {
    if (gen !== this.gen) return;
    if (op.op === 'event' && op.room === room) {
      if (op.seq > this.restMax) this.accept(op.seq, op.event_id); // else already had from REST
    } else if (op.op === 'recovered' && op.room === room) {
      if (op.ok) {
        this.recovered.ok++;
      } else {
        // the gateway could not replay after `since`: catch up with the REST feed (through
        // head_seq at least: all of it), live events it already gave are dropped
        this.recovered.notOk++;
        const feed = await changesSince(this.token, this.last);
        assert.ok(feed.length === 0 || feed[feed.length - 1].seq >= (op.head_seq ?? 0), `feed reaches head_seq ${op.head_seq}`);
        for (const e of feed) {
          this.accept(e.seq, e.event_id);
          this.restFilled++;
        }
        this.restMax = this.last;
      }
      this.progressAt = Date.now();
    } else if (op.op === 'error') {
      this.errors[op.code] = (this.errors[op.code] || 0) + 1;
      // e.g. `unavailable` while tm-realtime is down: ask again a little later
      if (op.failed_op === 'resume' && this.resumeRetries++ < 100) {
        const ws = this.ws;
        setTimeout(() => this.enqueue(() => gen === this.gen && this.resume(ws)), 500);
      }
    }
  }

  async onClose(code, gen) {
    if (gen !== this.gen) return;
    this.closes[code] = (this.closes[code] || 0) + 1;
    this.ws = null;
    if (this.stopped) return;
    this.reconnects++;
    await sleep(200);
    await this.connect();
  }

  /** A socket that is open but silent while the room moved on: drop it; onClose resumes. */
  checkStall(roomMovedAt, head) {
    const now = Date.now();
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || now - this.openedAt < STALL_MS) return;
    const behind = head > this.last || roomMovedAt - this.progressAt > 1000;
    if (behind && now - this.progressAt > STALL_MS) {
      this.stallReconnects++;
      this.ws.terminate();
    }
  }

  async stop() {
    this.stopped = true;
    await this.chain;
    if (this.ws) {
      const ws = this.ws;
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.terminate();
      await closed;
    }
    await this.chain;
  }
}

/** (a) kill -9 tm-realtime mid-stream, restart it; writes must go on across it. */
async function killRealtime(writer) {
  const killed = await cluster.kill('realtime', 'SIGKILL');
  assert.equal(killed.sig, 'SIGKILL');
  const acked = writer.acked;
  await sleep(DOWN_MS);
  await cluster.start('realtime');
  assert.ok(await writer.acks(20, 15000), 'writes go on after tm-realtime is back');
  assert.ok(writer.acked > acked + 10, 'events flowed across the tm-realtime restart');
}

/** (b) kill -9 nats-server mid-stream, restart it on the same store: JetStream keeps TM_EVENTS. */
async function killNats(writer) {
  const before = await streamState();
  assert.ok(before && before.messages > 0, `TM_EVENTS holds messages before the kill: ${JSON.stringify(before)}`);
  await cluster.restartNats({ kill9: true, downMs: DOWN_MS });
  const acked = writer.acked;
  const after = await streamState();
  assert.ok(after && after.messages >= before.messages && after.first_seq === before.first_seq,
    `JetStream kept TM_EVENTS across kill -9: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  assert.ok(await writer.acks(20, 20000), `writes go on after nats-server is back (statuses ${JSON.stringify(writer.statuses)})`);
  assert.ok(writer.acked > acked + 10, 'events flowed across the nats-server restart');
}

before(async () => {
  cluster = await startCluster({
    name: 'wsfaults',
    services: ['task', 'realtime', 'gateway'],
    env: {
      task: { TM_WORKERS: '4', TM_ARGON2_T: '1', TM_ARGON2_M_KIB: '8192' },
      // head beacons every 2 s: a gateway that missed deliveries finds out quickly
      realtime: { TM_RT_SWEEP_INTERVAL: '2s' },
      gateway: {},
    },
  });
  users = [];
  for (let i = 0; i < MEMBERS; i++) users.push(await newUser(`wsf${i}`));
  const w = await mustCall('POST', '/api/v1/workspaces', { token: users[0].token, body: { name: 'ws faults' } }, 201);
  wsId = w.id;
  room = `workspace:${wsId}`;
  for (const u of users.slice(1)) {
    await mustCall('POST', `/api/v1/workspaces/${wsId}/members`, { token: users[0].token, body: { user_id: u.id, role: 'editor' } }, 201);
  }
});

after(async () => {
  if (cluster) await cluster.stop();
});

test('kill -9 of tm-realtime and of nats-server while events flow: every resumed client has every event', { timeout: 85000 }, async (t) => {
  const followers = [];
  users.forEach((u, i) => {
    for (let k = 0; k < SOCKETS_PER_USER; k++) followers.push(new Follower(`u${i}.${k}`, u.token));
  });
  const base = (await changesSince(users[0].token, 0)).length; // workspace and member events
  await Promise.all(followers.map((f) => f.enqueue(() => f.connect())));
  let head = 0; // the truth's last seq, once known
  const writer = new Writer(users[0].token).run();
  const watchdog = setInterval(() => followers.forEach((f) => f.checkStall(writer.lastAckAt, head)), 500);
  t.after(() => clearInterval(watchdog));
  try {
    assert.ok(await writer.acks(20, 15000), 'writes are acknowledged before the first fault');
    for (let round = 0; round < ROUNDS; round++) {
      await killRealtime(writer);
      await killNats(writer);
    }
  } finally {
    await writer.stop();
  }
  assert.equal(writer.gaveUp, 0, `a write was not acknowledged within ${GIVE_UP_MS} ms (statuses ${JSON.stringify(writer.statuses)})`);

  // The truth: the REST change feed, seq 1..N, one change per acknowledged write.
  const truth = await changesSince(users[0].token, 0);
  head = truth.length ? truth[truth.length - 1].seq : 0;
  assert.deepEqual(truth.map((e) => e.seq), Array.from({ length: head }, (_, i) => i + 1), 'the change feed is 1..N');
  const writes = truth.slice(base);
  assert.equal(writes.length, writer.acked, `one change per acknowledged write (feed ${head}, before the writer ${base})`);
  assert.equal(writes.filter((e) => e.type === 'task.created').length, writer.created.length, 'task.created per acknowledged create');
  assert.equal(writes.filter((e) => e.type === 'task.updated').length, writer.updated, 'task.updated per acknowledged update');
  const created = new Set(writes.filter((e) => e.type === 'task.created').map((e) => e.data.id));
  assert.deepEqual(writer.created.filter((id) => !created.has(id)), [], 'every acknowledged create is in the feed');

  for (const until = Date.now() + SETTLE_MS; Date.now() < until && !followers.every((f) => f.last >= head);) await sleep(100);
  clearInterval(watchdog);
  await Promise.all(followers.map((f) => f.stop()));

  const want = Array.from({ length: head }, (_, i) => i + 1);
  for (const f of followers) {
    const where = `${f.name}: last ${f.last}/${head}, gaps ${f.gaps.slice(0, 5)}, dups ${f.dups}, reconnects ${f.reconnects} ` +
      `(stalled ${f.stallReconnects}), recovered ${JSON.stringify(f.recovered)}, errors ${JSON.stringify(f.errors)}, ` +
      `failures ${f.failures.slice(0, 2)}`;
    assert.deepEqual(f.failures, [], where);
    assert.equal(f.dups, 0, `no event twice: ${where}`);
    assert.deepEqual(f.gaps, [], `no silent gap: ${where}`);
    assert.deepEqual(f.seqs, want, `every seq 1..${head} once, in order: ${where}`);
    const wrong = truth.filter((e) => f.ids.get(e.seq) !== e.event_id).map((e) => e.seq);
    assert.deepEqual(wrong.slice(0, 5), [], `event ids as in the change feed: ${where}`);
  }
  const sum = (k) => followers.reduce((n, f) => n + (typeof k === 'function' ? k(f) : f[k]), 0);
  t.diagnostic(`events ${head} (writes ${writer.acked}: ${writer.created.length} creates, ${writer.updated} updates; ` +
    `refused while down ${JSON.stringify(writer.statuses)}); ${followers.length} clients: reconnects ${sum('reconnects')} ` +
    `(after a stall ${sum('stallReconnects')}), recovered ok ${sum((f) => f.recovered.ok)} / not ok ${sum((f) => f.recovered.notOk)} ` +
    `(REST-filled ${sum('restFilled')}), close codes ${JSON.stringify(followers.reduce((o, f) => {
      for (const [c, n] of Object.entries(f.closes)) o[c] = (o[c] || 0) + n;
      return o;
    }, {}))}, errors ${JSON.stringify(followers.reduce((o, f) => {
      for (const [c, n] of Object.entries(f.errors)) o[c] = (o[c] || 0) + n;
      return o;
    }, {}))}`);
});

/** Unacknowledged TM_EVENTS messages of tm-realtime's durable consumer. */
async function realtimeAckPending() {
  const r = await fetch(`${cluster.natsMonUrl}/jsz?consumers=true`, { signal: AbortSignal.timeout(3000) });
  const j = await r.json();
  for (const acc of j.account_details || []) {
    for (const s of acc.stream_detail || []) {
      for (const c of s.consumer_detail || []) if (c.name === 'realtime') return c.num_ack_pending;
    }
  }
  return null;
}

const resumeRequests = () => metric(cluster.adminPorts.realtime, 'tm_svc_request_seconds_count{subject="tm.v1.rt.resume"}');

// Regression tests for three bugs this file found (all fixed):
//  1. tm-realtime (services/realtime/consumer.c, ACK_WAIT_S): an event delivered to its
//     pull request and not yet acknowledged when it is killed is redelivered only after the
//     AckWait; its room has a hole meanwhile and every subscriber of the room gets nothing
//     until then (tm-realtime's resume stops at the hole, the gateway holds the rest). The
//     AckWait was 30 s; it is 5 s, so the 10 s bound below holds.
//  2. tm-gateway (services/gateway/ws_session.c flush_held): while the hole lasted, each
//     subscribed socket re-sent tm.v1.rt.resume as soon as the previous answer made no
//     progress (~1,000 requests/s per socket); it now waits WS_RESUME_RETRY_MS (250 ms).
//  3. tm-gateway (ws_session.c resume_failed): when the gap fill after a missed delivery got
//     no answer, the client got recovered {ok:false, head_seq: <last seq sent>} and then a
//     held delivery further than head_seq + 1; head_seq is now the first held seq - 1
//     (next test).
test('tm-realtime killed holding an unacknowledged event: the room goes on within 10 s, no resume storm', {
  timeout: 40000,
}, async (t) => {
  const owner = users[0].token;
  const w = await mustCall('POST', '/api/v1/workspaces', { token: owner, body: { name: 'unacked' } }, 201);
  const r = `workspace:${w.id}`;
  const client = await openWsUrl(cluster.wsUrl, owner);
  t.after(() => client.terminate());
  client.send({ op: 'subscribe', room: r });
  await client.next((o) => o.op === 'subscribed' && o.room === r);
  const create = (title) => mustCall('POST', '/api/v1/tasks', { token: owner, body: { workspace_id: w.id, title } }, 201);
  await create('live');
  await client.next((o) => o.op === 'event' && o.room === r, 10000);
  // Freeze tm-realtime: its outstanding pull request (renewed every second) still takes the
  // next event, which it can then never acknowledge. Checked, and retried a few times.
  let pending = 0;
  for (let i = 0; i < 3 && !pending; i++) {
    process.kill(cluster.pid('realtime'), 'SIGSTOP');
    await create(`unacked ${i}`);
    await sleep(300);
    pending = await realtimeAckPending();
    await cluster.kill('realtime', 'SIGKILL');
    await cluster.start('realtime');
  }
  assert.ok(pending > 0, 'an event was delivered to tm-realtime and not acknowledged before the kill');
  const r0 = await resumeRequests();
  for (let i = 0; i < 3; i++) await create(`after ${i}`);
  const head = (await mustCall('GET', `/api/v1/workspaces/${w.id}/changes?since=0&limit=1000`, { token: owner }, 200)).data.at(-1).seq;
  const until = Date.now() + 10000;
  const seen = () => client.inbox.filter((o) => o.op === 'event' && o.room === r).map((o) => o.seq);
  while (Date.now() < until && !seen().includes(head)) await sleep(100);
  const storm = (await resumeRequests()) - r0;
  const why = `room's last event (seq ${head}) on the socket within 10 s: ${seen().includes(head)} ` +
    `(got ${JSON.stringify(seen())}); tm.v1.rt.resume requests meanwhile (one socket): ${storm}`;
  assert.ok(seen().includes(head) && storm < 100, why);
});

/** Publish one message on the cluster's NATS (raw protocol: CONNECT, PUB, PING -> PONG). */
function natsPublish(subject, payload) {
  const u = new URL(cluster.natsUrl);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let got = '';
    const timer = setTimeout(() => sock.destroy(new Error('no PONG from nats-server')), 5000);
    sock.on('data', (d) => {
      got += d;
      if (got.includes('PONG')) {
        clearTimeout(timer);
        sock.end();
        resolve();
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.write(`CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPUB ${subject} ${Buffer.byteLength(payload)}\r\n` +
      `${payload}\r\nPING\r\n`);
  });
}

// A gateway that missed one delivery (as happens around a NATS reconnect: seen in this
// file's first test as recovered{ok:false, head_seq: 138} followed by seq 140) and whose gap
// fill gets no answer (tm-realtime frozen with SIGSTOP, so the tm.v1.rt.resume request times
// out). The missed delivery is simulated: the next event's delivery is published as
// tm-realtime would, while the one before is not. proto/websocket.md: after recovered
// {ok:false} "live events continue after head_seq", so the first live event must be
// head_seq + 1 (or the client, filling REST through head_seq, loses events).
test('a gap fill that fails: recovered{ok:false} head_seq is where live events continue', {
  timeout: 40000,
}, async (t) => {
  const owner = users[0].token;
  const w = await mustCall('POST', '/api/v1/workspaces', { token: owner, body: { name: 'missed' } }, 201);
  const r = `workspace:${w.id}`;
  const client = await openWsUrl(cluster.wsUrl, owner);
  t.after(() => client.terminate());
  client.send({ op: 'subscribe', room: r });
  await client.next((o) => o.op === 'subscribed' && o.room === r);
  const create = (title) => mustCall('POST', '/api/v1/tasks', { token: owner, body: { workspace_id: w.id, title } }, 201);
  const first = await create('live');
  const live = await client.next((o) => o.op === 'event' && o.room === r && o.data?.id === first.id, 10000);
  // What came before the fault is not under test: workspace.created (seq 1) is delivered live
  // or counted in the subscribe's head, depending on how fast tm-realtime stored it, and
  // must not be taken for the event that follows the recovery below.
  client.inbox = client.inbox.filter((o) => !(o.op === 'event' && o.room === r && o.seq <= live.seq));
  const pid = cluster.pid('realtime');
  process.kill(pid, 'SIGSTOP');
  let ok = false;
  t.after(() => {
    if (!ok) process.kill(pid, 'SIGCONT');
  });
  await create('missed');
  await create('delivered');
  let feed = [];
  for (const until = Date.now() + 10000; feed.length < 2 && Date.now() < until;) {
    feed = await changesSince(owner, live.seq, w.id);
    if (feed.length < 2) await sleep(100);
  }
  assert.equal(feed.length, 2, 'two more events in the change feed');
  const [missed, delivered] = feed;
  assert.equal(delivered.seq, missed.seq + 1);
  await natsPublish(`tm.v1.deliver.room.${r}`, JSON.stringify({
    op: 'event', room: r, seq: delivered.seq, type: delivered.type, data: delivered.data,
    event_id: delivered.event_id, created_at: delivered.created_at,
  }));
  const rec = await client.next((o) => o.op === 'recovered' && o.room === r, 15000);
  const next = await client.next((o) => o.op === 'event' && o.room === r, 10000);
  process.kill(pid, 'SIGCONT');
  ok = true;
  assert.equal(rec.ok, false, `the gap fill failed: ${JSON.stringify(rec)}`);
  assert.equal(next.seq, rec.head_seq + 1,
    `live events continue right after head_seq: recovered ${JSON.stringify(rec)}, then seq ${next.seq} (missed seq ${missed.seq})`);
});
