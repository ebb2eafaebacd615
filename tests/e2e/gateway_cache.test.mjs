// Response cache of tm-gateway, through the test stack's gateway (TM_TEST_GATEWAY_URL) and
// extra gateways this file starts against the stack's NATS (TM_TEST_NATS_URL, keys under
// TM_TEST_STATE): hit/miss, normalised keys, 304 from the cache, read-your-writes, event
// invalidation across two gateway processes, TTL, per-user keys, admin endpoints, and no
// stale entry after a NATS outage (events published meanwhile never reached the gateway).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { api, expectStatus, registerAndLogin, PASSWORD, BASE_URL } from './lib/client.mjs';
import { GATEWAY_BIN, TASK_BIN, PUBKEY, NATS_URL, startGateway, stopAll, sleep, metric, waitFor, httpGet } from './lib/procs.mjs';

const SKIP = !GATEWAY_BIN || !fs.existsSync(PUBKEY) ? 'tm-gateway binary or stack keys not found' : false;
const st = {};

async function setup() {
  st.owner = await registerAndLogin('cache-owner');
  st.ws = expectStatus(await api('POST', '/api/v1/workspaces', { token: st.owner.access_token, body: { name: 'cache' } }), 201, 'ws').json;
  st.task = expectStatus(await api('POST', '/api/v1/tasks', {
    token: st.owner.access_token, body: { workspace_id: st.ws.id, title: 'cached task' },
  }), 201, 'task').json;
}

before(async () => {
  if (SKIP) return;
  await setup();
  st.g2 = await startGateway();
  st.g3 = await startGateway({ TM_CACHE_TTL: '1s' });
});

after(async () => { await stopAll(); });

const xcache = (r) => r.headers.get('x-cache');

test('GET task: MISS then HIT with the same body and ETag; 304 from the cache', { skip: SKIP }, async () => {
  const tok = st.owner.access_token;
  const p = `/api/v1/tasks/${st.task.id}`;
  const a = expectStatus(await api('GET', p, { token: tok }), 200, 'a');
  const b = expectStatus(await api('GET', p, { token: tok }), 200, 'b');
  assert.ok(['MISS', 'HIT'].includes(xcache(a)));
  assert.equal(xcache(b), 'HIT');
  assert.equal(b.text, a.text);
  assert.equal(b.headers.get('etag'), a.headers.get('etag'));
  const c = await api('GET', p, { token: tok, headers: { 'if-none-match': a.headers.get('etag') } });
  assert.equal(c.status, 304);
  assert.equal(xcache(c), 'HIT');
  const d = await api('GET', p, { token: tok, headers: { 'if-none-match': '"nope"' } });
  assert.equal(d.status, 200);
});

test('list keys are normalised (query order) and per user', { skip: SKIP }, async () => {
  const tok = st.owner.access_token;
  const a = expectStatus(await api('GET', `/api/v1/tasks?workspace_id=${st.ws.id}&limit=7`, { token: tok }), 200, 'a');
  const b = expectStatus(await api('GET', `/api/v1/tasks?limit=7&workspace_id=${st.ws.id}`, { token: tok }), 200, 'b');
  assert.equal(xcache(a), 'MISS');
  assert.equal(xcache(b), 'HIT');
  // another user (not a member) must not get the owner's cached list
  const other = await registerAndLogin('cache-other');
  const c = await api('GET', `/api/v1/tasks?workspace_id=${st.ws.id}&limit=7`, { token: other.access_token });
  assert.notEqual(xcache(c), 'HIT');
  assert.notEqual(c.text, a.text);
  // lists without a workspace filter are not cached
  const d = await api('GET', '/api/v1/tasks?limit=3', { token: tok });
  assert.equal(xcache(d), null);
});

test('read your writes: PATCH through the gateway drops the task and its lists at once', { skip: SKIP }, async () => {
  const tok = st.owner.access_token;
  const p = `/api/v1/tasks/${st.task.id}`;
  const lp = `/api/v1/tasks?workspace_id=${st.ws.id}`;
  await api('GET', p, { token: tok });
  await api('GET', lp, { token: tok });
  assert.equal(xcache(await api('GET', p, { token: tok })), 'HIT');
  assert.equal(xcache(await api('GET', lp, { token: tok })), 'HIT');
  const before = (await api('GET', p, { token: tok })).json;
  const upd = expectStatus(await api('PATCH', p, { token: tok, body: { title: 'renamed' },
    headers: { 'if-match': `"${before.version}"` } }), 200, 'patch').json;
  const t = await api('GET', p, { token: tok });
  assert.equal(xcache(t), 'MISS');
  assert.equal(t.json.title, 'renamed');
  assert.equal(t.json.version, upd.version);
  const l = await api('GET', lp, { token: tok });
  assert.equal(xcache(l), 'MISS');
  assert.ok(l.json.data.some((x) => x.id === st.task.id && x.title === 'renamed'));
  // a create drops the workspace's lists too
  await api('GET', lp, { token: tok });
  expectStatus(await api('POST', '/api/v1/tasks', { token: tok, body: { workspace_id: st.ws.id, title: 'second' } }), 201);
  const l2 = await api('GET', lp, { token: tok });
  assert.equal(xcache(l2), 'MISS');
  assert.ok(l2.json.data.some((x) => x.title === 'second'));
});

test('a write through one gateway is seen through another after the event', { skip: SKIP }, async () => {
  const tok = st.owner.access_token;
  const p = `${st.g2.base}/api/v1/tasks/${st.task.id}`;
  await api('GET', p, { token: tok });
  const cached = await api('GET', p, { token: tok });
  assert.equal(xcache(cached), 'HIT');
  const events0 = await metric(st.g2.adminPort, 'tm_cache_events_total');
  const t0 = Date.now();
  const upd = expectStatus(await api('PATCH', `/api/v1/tasks/${st.task.id}`, { token: tok, body: { title: `via-g1-${t0}` } }), 200).json;
  let seen = null;
  while (Date.now() - t0 < 3000) {
    const r = await api('GET', p, { token: tok });
    assert.ok(r.json.version <= upd.version);
    assert.ok(r.json.version >= cached.json.version, 'never older than what was seen');
    if (r.json.version === upd.version) { seen = r; break; }
    await sleep(5);
  }
  assert.ok(seen, 'the second gateway never served the new version');
  assert.equal(seen.json.title, `via-g1-${t0}`);
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms (TTL is 30 s: the event must do it)`);
  assert.ok((await metric(st.g2.adminPort, 'tm_cache_events_total')) > events0);
  // and the next read is a hit again
  assert.equal(xcache(await api('GET', p, { token: tok })), 'HIT');
});

test('member events drop the member\'s cached workspace list on another gateway', { skip: SKIP }, async () => {
  const member = await registerAndLogin('cache-member');
  const p = `${st.g2.base}/api/v1/workspaces`;
  await api('GET', p, { token: member.access_token });
  const before = await api('GET', p, { token: member.access_token });
  assert.equal(xcache(before), 'HIT');
  assert.ok(!before.json.data.some((w) => w.id === st.ws.id));
  expectStatus(await api('POST', `/api/v1/workspaces/${st.ws.id}/members`, {
    token: st.owner.access_token, body: { user_id: member.user.id, role: 'viewer' },
  }), 201, 'add member');
  const t0 = Date.now();
  let ok = false;
  while (!ok && Date.now() - t0 < 3000) {
    const r = await api('GET', p, { token: member.access_token });
    ok = r.json.data.some((w) => w.id === st.ws.id);
    if (!ok) await sleep(10);
  }
  assert.ok(ok, 'new membership not visible through the second gateway');
});

/** A TCP proxy to the stack's NATS that can cut every connection and refuse new ones. */
async function natsProxy() {
  const target = new URL(NATS_URL);
  const socks = new Set();
  let open = true;
  const server = net.createServer((c) => {
    if (!open) { c.destroy(); return; }
    const u = net.connect(Number(target.port), target.hostname);
    for (const [a, b] of [[c, u], [u, c]]) {
      socks.add(a);
      a.on('error', () => {});
      a.on('close', () => { socks.delete(a); b.destroy(); });
      a.pipe(b);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `nats://127.0.0.1:${server.address().port}`,
    cut() { open = false; for (const s of socks) s.destroy(); },
    restore() { open = true; },
    close() { open = false; for (const s of socks) s.destroy(); server.close(); },
  };
}

test('after a NATS outage the gateway serves nothing it cached before it', { skip: SKIP, timeout: 60000 }, async () => {
  const proxy = await natsProxy();
  try {
    const g = await startGateway({ TM_NATS_URL: proxy.url });
    const tok = st.owner.access_token;
    const p = `${g.base}/api/v1/tasks/${st.task.id}`;
    expectStatus(await api('GET', p, { token: tok }), 200, 'a');
    const hit = expectStatus(await api('GET', p, { token: tok }), 200, 'b');
    assert.equal(xcache(hit), 'HIT');
    proxy.cut();
    await waitFor(async () => (await metric(g.adminPort, 'tm_nats_connected')) === 0, 'gateway sees the outage', 10000);
    // a change the gateway cannot hear of: through the stack's gateway, on the real NATS
    const changed = expectStatus(await api('PATCH', `/api/v1/tasks/${st.task.id}`, {
      token: tok, body: { title: `changed during the outage ${Date.now()}` },
    }), 200, 'patch').json;
    // while cut off, the old copy is not served either
    const during = await api('GET', p, { token: tok });
    assert.notEqual(xcache(during), 'HIT', `served from the cache during the outage: ${during.status}`);
    proxy.restore();
    await waitFor(async () => (await httpGet(`http://127.0.0.1:${g.adminPort}/readyz`)).status === 200, 'gateway reconnected', 20000);
    const after = expectStatus(await api('GET', p, { token: tok }), 200, 'after');
    assert.equal(after.json.version, changed.version, `stale after the outage (X-Cache ${xcache(after)})`);
    assert.equal(after.json.title, changed.title);
  } finally {
    proxy.close();
  }
});

test('TTL bounds an entry that no event dropped', { skip: SKIP }, async () => {
  const tok = st.owner.access_token;
  const p = `${st.g3.base}/api/v1/workspaces/${st.ws.id}`;
  assert.equal(xcache(await api('GET', p, { token: tok })), 'MISS');
  assert.equal(xcache(await api('GET', p, { token: tok })), 'HIT');
  await sleep(1200);
  assert.equal(xcache(await api('GET', p, { token: tok })), 'MISS');
});

test('admin cache endpoints: 401 without token, 403 for users, figures and flush for admins', { skip: SKIP }, async () => {
  assert.equal((await api('GET', '/api/v1/admin/cache')).status, 401);
  assert.equal((await api('GET', '/api/v1/admin/cache', { token: st.owner.access_token })).status, 403);
  assert.equal((await api('DELETE', '/api/v1/admin/cache', { token: st.owner.access_token })).status, 403);
  const pg = process.env.TM_TEST_TASK_PG_URL;
  if (!pg || !TASK_BIN) return; // promotion needs the stack's database
  const adm = await registerAndLogin('cache-admin');
  execFileSync(TASK_BIN, ['promote', adm.email, 'admin'], { env: { ...process.env, TM_PG_URL: pg }, stdio: 'pipe' });
  try {
    const tok = expectStatus(await api('POST', '/api/v1/auth/login', { body: { email: adm.email, password: PASSWORD, device: 'adm' } }), 200).json.access_token;
    const p = `/api/v1/tasks/${st.task.id}`;
    await api('GET', p, { token: st.owner.access_token });
    const s = expectStatus(await api('GET', '/api/v1/admin/cache', { token: tok }), 200, 'stats').json;
    for (const k of ['entries', 'bytes', 'hits', 'misses', 'hit_rate', 'evictions', 'invalidations']) {
      assert.equal(typeof s[k], 'number', k);
    }
    assert.ok(s.entries >= 1 && s.bytes > 0 && s.hits >= 1 && s.misses >= 1 && s.invalidations >= 1);
    assert.ok(s.hit_rate > 0 && s.hit_rate <= 1);
    assert.equal((await api('DELETE', '/api/v1/admin/cache', { token: tok })).status, 204);
    const s2 = expectStatus(await api('GET', '/api/v1/admin/cache', { token: tok }), 200).json;
    assert.equal(s2.entries, 0);
    assert.equal(xcache(await api('GET', p, { token: st.owner.access_token })), 'MISS');
  } finally {
    execFileSync(TASK_BIN, ['promote', adm.email, 'user'], { env: { ...process.env, TM_PG_URL: pg }, stdio: 'pipe' });
  }
});

test('the OpenAPI document lists the admin cache routes', { skip: SKIP }, async () => {
  const doc = expectStatus(await api('GET', '/api/v1/openapi.json'), 200).json;
  assert.ok(doc.paths['/api/v1/admin/cache'].get);
  assert.ok(doc.paths['/api/v1/admin/cache'].delete);
  assert.ok(BASE_URL.startsWith('http'));
});
