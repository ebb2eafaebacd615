// Realtime through the gateway's WebSocket (npm `ws`) with tm-task and tm-realtime behind:
// room deliveries to members only, resume after a disconnect, resume past history, presence,
// typing, notifications with read sync, announcements, and a slow client closed with 1013.
// Env: TM_TEST_GATEWAY_URL; TM_TEST_RT_HISTORY_EVENTS (the stack's TM_RT_HISTORY_EVENTS,
// enables the past-history test); TM_TEST_TASK_PG_URL + TM_TEST_TASK_BIN (admin promote);
// TM_TEST_STATE (the stack's state folder, for the gateway pid).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';
import { openWs, sleep } from './lib/ws.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let A, B, C, wsId, room;

async function createTask(token, body) {
  const r = await api('POST', '/api/v1/tasks', { token, body: { workspace_id: wsId, ...body } });
  return expectStatus(r, 201, 'create task').json;
}

async function subscribed(client, r = room) {
  client.send({ op: 'subscribe', room: r });
  const op = await client.next((o) => (o.op === 'subscribed' || o.op === 'error') && (o.room === r || o.op === 'error'));
  assert.equal(op.op, 'subscribed', JSON.stringify(op));
  return op;
}

before(async () => {
  [A, B, C] = await Promise.all([registerAndLogin('rta'), registerAndLogin('rtb'), registerAndLogin('rtc')]);
  const w = expectStatus(await api('POST', '/api/v1/workspaces', { token: A.access_token, body: { name: 'rt' } }), 201).json;
  wsId = w.id;
  room = `workspace:${wsId}`;
  expectStatus(await api('POST', `/api/v1/workspaces/${wsId}/members`, {
    token: A.access_token, body: { user_id: B.user.id, role: 'editor' },
  }), 201, 'add member');
});

test('a REST task change reaches members\' sockets and not non-members\'', async () => {
  const b = await openWs(B.access_token);
  const c = await openWs(C.access_token);
  await subscribed(b);
  c.send({ op: 'subscribe', room });
  const err = await c.next('error');
  assert.equal(err.code, 'forbidden');
  const task = await createTask(A.access_token, { title: 'hello realtime' });
  const ev = await b.next((o) => o.op === 'event' && o.type === 'task.created' && o.data?.id === task.id);
  assert.equal(ev.room, room);
  assert.ok(Number.isInteger(ev.seq) && ev.seq > 0);
  await sleep(300);
  assert.equal(c.inbox.filter((o) => o.op === 'event').length, 0);
  await Promise.all([b.close(), c.close()]);
});

test('resume after a disconnect during which 100 events happened: each once, in order', async () => {
  const b = await openWs(B.access_token);
  const sub = await subscribed(b);
  const last = sub.seq;
  await b.close();
  for (let i = 0; i < 100; i++) await createTask(A.access_token, { title: `offline ${i}` });
  await sleep(500);
  const b2 = await openWs(B.access_token);
  b2.send({ op: 'resume', room, since: last });
  await b2.next((o) => o.op === 'recovered', 20000);
  // events tm-realtime had not stored yet at the resume arrive live right after it
  for (let i = 0; i < 100 && b2.inbox.filter((o) => o.op === 'event' && o.type === 'task.created').length < 100; i++) await sleep(100);
  const events = b2.inbox.filter((o) => o.op === 'event' && o.room === room);
  const seqs = events.map((e) => e.seq);
  assert.ok(seqs.length >= 100, `got ${seqs.length} events`);
  for (let i = 0; i < seqs.length; i++) assert.equal(seqs[i], last + 1 + i, 'gapless, in order, no duplicates');
  assert.equal(events.filter((e) => e.type === 'task.created').length, 100);
  // live after the replay: the next change arrives exactly once
  const t = await createTask(A.access_token, { title: 'after resume' });
  const live = await b2.next((o) => o.op === 'event' && o.data?.id === t.id);
  assert.equal(live.seq, seqs[seqs.length - 1] + 1);
  await sleep(300);
  assert.equal(b2.inbox.filter((o) => o.op === 'event' && o.seq === live.seq).length, 0);
  await b2.close();
});

test('resume past the room history -> recovered ok:false, then the REST change feed fills the gap',
  { skip: !process.env.TM_TEST_RT_HISTORY_EVENTS && 'set TM_TEST_RT_HISTORY_EVENTS (small history)' }, async () => {
    const keep = Number(process.env.TM_TEST_RT_HISTORY_EVENTS);
    const w = expectStatus(await api('POST', '/api/v1/workspaces', { token: A.access_token, body: { name: 'hist' } }), 201).json;
    for (let i = 0; i < keep + 30; i++) {
      const r = await api('POST', '/api/v1/tasks', { token: A.access_token, body: { workspace_id: w.id, title: `h${i}` } });
      expectStatus(r, 201);
    }
    // The events reach tm-realtime through the relay and its consumer, and the history is
    // pruned every second (test stack): poll until resume from seq 1 reports the gap.
    const r = `workspace:${w.id}`;
    let a;
    let rec;
    for (const t0 = Date.now(); Date.now() - t0 < 30000;) {
      a = await openWs(A.access_token);
      a.send({ op: 'resume', room: r, since: 1 });
      rec = await a.next('recovered', 20000);
      if (rec.ok === false && rec.head_seq >= keep + 30) break;
      await a.close();
      await sleep(500);
    }
    assert.equal(rec.ok, false, JSON.stringify(rec));
    assert.ok(rec.oldest_seq > 2, JSON.stringify(rec));
    assert.ok(rec.head_seq >= keep + 30, JSON.stringify(rec));
    const feed = await api('GET', `/api/v1/workspaces/${w.id}/changes?since=1`, { token: A.access_token });
    expectStatus(feed, 200, 'changes');
    const items = feed.json.data || feed.json.events || [];
    assert.ok(items.length > 0 && items[0].seq === 2, `REST feed starts right after since: ${JSON.stringify(items[0]).slice(0, 200)}`);
    await a.close();
  });

test('presence across two devices', async () => {
  const a = await openWs(A.access_token);
  await subscribed(a);
  const b1 = await openWs(B.access_token, { query: 'device=phone' });
  const b2 = await openWs(B.access_token, { query: 'device=laptop' });
  await Promise.all([b1.next('hello'), b2.next('hello')]);
  const online = await a.next((o) => o.op === 'presence' && o.user_id === B.user.id && o.online === true, 10000);
  assert.equal(online.room, room);
  await sleep(500);
  const p = expectStatus(await api('GET', `/api/v1/workspaces/${wsId}/presence`, { token: A.access_token }), 200).json;
  const mine = p.data.find((u) => u.user_id === B.user.id);
  assert.ok(mine && mine.online, JSON.stringify(p));
  const devices = mine.devices.map((d) => d.device).sort();
  assert.deepEqual(devices, ['laptop', 'phone']);
  await b1.close();
  await sleep(500);
  const still = expectStatus(await api('GET', `/api/v1/workspaces/${wsId}/presence`, { token: A.access_token }), 200).json;
  assert.ok(still.data.find((u) => u.user_id === B.user.id).online, 'one device left: still online');
  await b2.close();
  const offline = await a.next((o) => o.op === 'presence' && o.user_id === B.user.id && o.online === false, 10000);
  assert.equal(offline.online, false);
  const c = await openWs(C.access_token);
  const forbidden = await api('GET', `/api/v1/workspaces/${wsId}/presence`, { token: C.access_token });
  assert.equal(forbidden.status, 404);
  await Promise.all([a.close(), c.close()]);
});

test('typing goes to the others, not to the typist\'s own sockets', async () => {
  const a = await openWs(A.access_token);
  const b1 = await openWs(B.access_token);
  const b2 = await openWs(B.access_token);
  await Promise.all([subscribed(a), subscribed(b1), subscribed(b2)]);
  b1.send({ op: 'typing', room });
  const t = await a.next((o) => o.op === 'typing' && o.user_id === B.user.id);
  assert.equal(t.room, room);
  await sleep(500);
  assert.equal(b1.inbox.filter((o) => o.op === 'typing').length, 0);
  assert.equal(b2.inbox.filter((o) => o.op === 'typing').length, 0);
  await Promise.all([a.close(), b1.close(), b2.close()]);
});

test('notifications and read sync across two devices', async () => {
  const b1 = await openWs(B.access_token, { query: 'device=phone' });
  const b2 = await openWs(B.access_token, { query: 'device=laptop' });
  await Promise.all([b1.next('hello'), b2.next('hello')]);
  await createTask(A.access_token, { title: 'for B', assignee_id: B.user.id });
  const n1 = await b1.next('notification', 10000);
  const n2 = await b2.next('notification', 10000);
  const id = n1.id || n1.data?.id;
  assert.ok(id, JSON.stringify(n1));
  assert.equal(n2.id || n2.data?.id, id);
  expectStatus(await api('POST', `/api/v1/notifications/${id}/read`, { token: B.access_token, body: {} }), 200, 'read');
  const r1 = await b1.next('notification.read');
  const r2 = await b2.next('notification.read');
  assert.deepEqual(r1.ids, [id]);
  assert.deepEqual(r2.ids, [id]);
  const other = await api('POST', `/api/v1/notifications/${id}/read`, { token: C.access_token, body: {} });
  assert.equal(other.status, 404);
  await Promise.all([b1.close(), b2.close()]);
});

test('announcements reach every socket (admin only)',
  { skip: !process.env.TM_TEST_TASK_PG_URL && 'set TM_TEST_TASK_PG_URL (admin promote)' }, async () => {
    const bin = process.env.TM_TEST_TASK_BIN || path.join(ROOT, 'build/services/task/tm-task');
    const adm = await registerAndLogin('rtadm');
    execFileSync(bin, ['promote', adm.email, 'admin'], { env: { ...process.env, TM_PG_URL: process.env.TM_TEST_TASK_PG_URL }, stdio: 'pipe' });
    const login = expectStatus(await api('POST', '/api/v1/auth/login', { body: { email: adm.email, password: adm.password, device: 'e2e' } }), 200).json;
    const b = await openWs(B.access_token);
    const c = await openWs(C.access_token);
    await Promise.all([b.next('hello'), c.next('hello')]);
    const denied = await api('POST', '/api/v1/admin/announcements', { token: B.access_token, body: { message: 'no', level: 'info' } });
    assert.equal(denied.status, 403);
    const msg = `maintenance ${Date.now()}`;
    expectStatus(await api('POST', '/api/v1/admin/announcements', { token: login.access_token, body: { message: msg, level: 'warning', ends_at: new Date(Date.now() + 15000).toISOString() } }), 201);
    const [ab, ac] = await Promise.all([
      b.next((o) => o.op === 'announcement' && o.message === msg, 10000),
      c.next((o) => o.op === 'announcement' && o.message === msg, 10000),
    ]);
    assert.equal(ab.level, 'warning');
    assert.equal(ac.id, ab.id);
    // a socket opened later gets the active announcement from connect
    const late = await openWs(C.access_token);
    const al = await late.next((o) => o.op === 'announcement' && o.message === msg, 10000);
    assert.equal(al.id, ab.id);
    execFileSync(bin, ['promote', adm.email, 'user'], { env: { ...process.env, TM_PG_URL: process.env.TM_TEST_TASK_PG_URL }, stdio: 'pipe' });
    await Promise.all([b.close(), c.close(), late.close()]);
  });

function gatewayPid() {
  const state = process.env.TM_TEST_STATE;
  return state ? fs.readFileSync(path.join(state, 'pids', 'gateway.pid'), 'utf8').trim() : null;
}

function gatewayRssKiB() {
  const pid = gatewayPid();
  if (!pid) return null;
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) : null;
}

// ASan keeps freed memory in quarantine (256 MiB by default): bound RSS loosely there.
function rssBoundKiB() {
  const pid = gatewayPid();
  const asan = pid && fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libasan');
  return asan ? 320 * 1024 : 64 * 1024;
}

test('a slow client (never reads) is closed with 1013; gateway RSS stays bounded', { timeout: 120000 }, async () => {
  const slow = await openWs(B.access_token);
  await subscribed(slow);
  slow.ws._socket.pause(); // stop reading: the kernel buffers fill, then the gateway's queue
  const fast = await openWs(A.access_token);
  await subscribed(fast);
  const rss0 = gatewayRssKiB();
  const big = 'x'.repeat(16000);
  let closedAt = -1;
  for (let i = 0; i < 400 && closedAt < 0; i++) {
    await createTask(A.access_token, { title: `bulk ${i}`, description: big });
    if (i % 20 === 19) {
      const m = await fetch(`http://127.0.0.1:${process.env.TM_TEST_GATEWAY_ADMIN_PORT || 9221}/metrics`).then((r) => r.text()).catch(() => '');
      if (/tm_ws_dropped_slow_total [1-9]/.test(m)) closedAt = i;
    }
  }
  assert.ok(closedAt >= 0, 'the gateway dropped the slow client');
  const rss1 = gatewayRssKiB();
  if (rss0 !== null && rss1 !== null) assert.ok(rss1 - rss0 < rssBoundKiB(), `gateway RSS grew ${rss1 - rss0} KiB`);
  slow.ws._socket.resume();
  const closed = await slow.closed;
  assert.equal(closed.code, 1013);
  // the fast client got every event
  const evs = fast.inbox.filter((o) => o.op === 'event' && o.type === 'task.created');
  assert.ok(evs.length > 0);
  await fast.close();
});
