// tm-ai's answers kept by the gateways (the Tm-Cache hint, proto/README.md):
//  - on the test stack (TM_AI_EDGE_MAX_AGE 1 s by default): only an answer tm-ai served from
//    its own cache is kept, never the first, computed one; per user; by every gateway (the
//    stack's and a second one this file starts); for POST /api/v1/ai/suggestions per body,
//    and never with an Idempotency-Key;
//  - on a private cluster whose tm-ai lets gateways keep answers 30 s: when another member
//    changes one of the user's tasks, tm-ai's broadcast (tm.v1.ai.dropped) drops the user's
//    copy, so the gateway shows the change within seconds, not after 30 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { api, expectStatus, registerAndLogin, uniq, PASSWORD } from './lib/client.mjs';
import { GATEWAY_BIN, PUBKEY, startGateway, stopAll, sleep } from './lib/procs.mjs';
import { startCluster } from './lib/cluster.mjs';

const SKIP = !GATEWAY_BIN || !fs.existsSync(PUBKEY) ? 'tm-gateway binary or stack keys not found' : false;
const PATH = '/api/v1/ai/recommendations?limit=20';
const st = {};
let cluster;

const xcache = (r) => r.headers.get('x-cache');
const get = (base, user, path = PATH) => api('GET', `${base}${path}`, { token: user.access_token });

/** GETs until the gateway at base answers from its own copy; returns every answer seen. */
async function untilHit(base, user, path = PATH) {
  const seen = [];
  for (let i = 0; i < 60; i++) {
    const r = expectStatus(await get(base, user, path), 200, `GET ${path}`);
    seen.push(r);
    if (xcache(r) === 'HIT') return seen;
    await sleep(20);
  }
  assert.fail(`no gateway hit at ${base}: ${seen.map((r) => `${xcache(r)}/${r.json.cached}`).join(' ')}`);
}

/** Until user's recommendations (at base) satisfy pred; fails after ms. */
async function untilAnswer(base, user, pred, what, ms = 10000) {
  const t0 = Date.now();
  for (;;) {
    const r = expectStatus(await get(base, user), 200, what);
    if (pred(r.json)) return r;
    assert.ok(Date.now() - t0 < ms, `${what}: still ${xcache(r)} ${r.text.slice(0, 300)}`);
    await sleep(100);
  }
}

/** alice owns a workspace where bob is an editor; alice's task in it. base: a gateway. */
async function setup(base, prefix) {
  const user = async (p) => {
    const email = `${prefix}-${p}-${uniq()}@test.local`;
    expectStatus(await api('POST', `${base}/api/v1/auth/register`, { body: { email, password: PASSWORD, display_name: p } }), 201, 'register');
    const l = expectStatus(await api('POST', `${base}/api/v1/auth/login`, { body: { email, password: PASSWORD, device: 'e2e' } }), 200, 'login');
    return l.json;
  };
  const s = { alice: await user('a'), bob: await user('b') };
  s.ws = expectStatus(await api('POST', `${base}/api/v1/workspaces`, { token: s.alice.access_token, body: { name: prefix } }), 201, 'ws').json;
  expectStatus(await api('POST', `${base}/api/v1/workspaces/${s.ws.id}/members`, {
    token: s.alice.access_token, body: { user_id: s.bob.user.id, role: 'editor' },
  }), 201, 'add bob');
  s.task = expectStatus(await api('POST', `${base}/api/v1/tasks`, {
    token: s.alice.access_token, body: { workspace_id: s.ws.id, title: 'Edge original', priority: 1 },
  }), 201, 'task').json;
  // tm-ai's projection is built from TM_EVENTS: wait until it shows the task
  await untilAnswer(base, s.alice, (j) => j.data.some((d) => d.task_id === s.task.id), 'task in recommendations');
  return s;
}

before(async () => {
  if (SKIP) return;
  Object.assign(st, await setup('', 'edge'));
  st.carol = await registerAndLogin('edge-c');
  st.g2 = await startGateway();
});
after(async () => {
  await stopAll();
  if (cluster) await cluster.stop();
});

test('only answers tm-ai served from its cache are kept, per user, by every gateway', { skip: SKIP }, async () => {
  for (const [base, limit] of [['', 17], [st.g2.base, 18]]) {
    // a query neither tm-ai nor the gateway has seen: tm-ai computes the first answer
    const seen = await untilHit(base, st.alice, `/api/v1/ai/recommendations?limit=${limit}`);
    const trail = seen.map((r) => `${xcache(r)}/${r.json.cached}`).join(' ');
    assert.ok(seen.length >= 3, trail);
    assert.equal(trail.split(' ')[0], 'MISS/false', trail);
    // the computed answer was not kept: the next request went to tm-ai again
    assert.equal(xcache(seen[1]), 'MISS', trail);
    // what the gateway keeps is an answer tm-ai marked as served from its cache
    const hit = seen.at(-1);
    assert.equal(hit.json.cached, true, trail);
    assert.equal(hit.text, seen.at(-2).text, trail);
    assert.ok(hit.json.data.some((d) => d.task_id === st.task.id));
  }
  // carol's request for the same path is not alice's answer
  const c = expectStatus(await get('', st.carol), 200, 'carol');
  assert.notEqual(xcache(c), 'HIT');
  assert.ok(!c.json.data.some((d) => d.task_id === st.task.id), c.text.slice(0, 300));
});

/** POST suggestions with body until the gateway answers from its copy; every answer seen. */
async function untilPostHit(base, user, body) {
  const seen = [];
  for (let i = 0; i < 60; i++) {
    const r = expectStatus(await api('POST', `${base}/api/v1/ai/suggestions`, { token: user.access_token, body }), 200, 'suggest');
    seen.push(r);
    if (xcache(r) === 'HIT') return seen;
    await sleep(20);
  }
  assert.fail(`no gateway hit for ${JSON.stringify(body)}: ${seen.map((r) => `${xcache(r)}/${r.json.cached}`).join(' ')}`);
}

test('POST suggestions: kept per user and body, never with an Idempotency-Key', { skip: SKIP }, async () => {
  const body = { workspace_id: st.ws.id, limit: 4 };
  const seen = await untilPostHit('', st.alice, body);
  const trail = seen.map((r) => `${xcache(r)}/${r.json.cached}`).join(' ');
  assert.equal(trail.split(' ')[0], 'MISS/false', trail);
  assert.equal(xcache(seen[1]), 'MISS', trail);
  const hit = seen.at(-1);
  assert.equal(hit.json.cached, true, trail);
  assert.equal(hit.text, seen.at(-2).text, trail);
  // another body is another answer
  const other = expectStatus(await api('POST', '/api/v1/ai/suggestions', { token: st.alice.access_token, body: { ...body, limit: 3 } }), 200);
  assert.equal(xcache(other), 'MISS');
  assert.notEqual(other.text, hit.text);
  // another user with the same body: not alice's answer
  const c = expectStatus(await api('POST', '/api/v1/ai/suggestions', { token: st.carol.access_token, body: { limit: 4 } }), 200);
  assert.notEqual(xcache(c), 'HIT');
  // with an Idempotency-Key the service answers, every time
  for (let i = 0; i < 3; i++) {
    const k = await api('POST', '/api/v1/ai/suggestions', {
      token: st.alice.access_token, body, headers: { 'idempotency-key': `edge-${i}-${Date.now()}` },
    });
    expectStatus(k, 200, 'with key');
    assert.notEqual(xcache(k), 'HIT');
  }
});

test("another member's change drops the user's copy at once (tm.v1.ai.dropped)", { skip: SKIP, timeout: 120000 }, async () => {
  cluster = await startCluster({
    name: 'ai_edge',
    services: ['task', 'ai', 'gateway'],
    env: {
      ai: { TM_AI_EDGE_MAX_AGE: '30s' },
      gateway: { TM_RATE_USER_RPS: '0', TM_RATE_IP_RPS: '0', TM_RATE_AUTH_RPS: '0', TM_CACHE_TTL: '60s' },
    },
  });
  const s = await setup(cluster.base, 'edge-cl');
  await untilHit(cluster.base, s.alice);
  // bob's write: the gateway's own write invalidation covers bob, not alice
  expectStatus(await api('PATCH', `${cluster.base}/api/v1/tasks/${s.task.id}`, {
    token: s.bob.access_token, body: { title: 'Edge renamed' },
  }), 200, 'bob renames');
  // the copy would live 30 s: only the broadcast makes this pass in 10
  await untilAnswer(cluster.base, s.alice, (j) => j.data.some((d) => d.title === 'Edge renamed'), 'renamed task');
  for (let i = 0; i < 5; i++) {
    const again = expectStatus(await get(cluster.base, s.alice), 200);
    assert.ok(!again.json.data.some((d) => d.title === 'Edge original'), `${xcache(again)}: ${again.text.slice(0, 300)}`);
  }
});
