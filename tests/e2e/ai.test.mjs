// tm-ai end to end through the gateway, in the stack's default mode (TM_AI_PROVIDER=none):
// parse, insights, recommendations and suggestions from the user's own tasks (projected
// from TM_EVENTS), accept creating tasks once, reject, another user's suggestion -> 404, and
// cached answers dropped when one of the user's tasks changes (not another user's).
// The LLM mode (fake OpenAI-compatible server: valid, malformed, slow, 500s, 10 MB) is
// ai_llm.test.mjs (a private cluster whose tm-ai has TM_AI_PROVIDER=openai) and
// tests/integration/test_ai.c.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';

let alice;
let bob;
let ws;
let rent;

async function newTask(body) {
  const res = await api('POST', '/api/v1/tasks', { token: alice.access_token, body: { workspace_id: ws, ...body } });
  expectStatus(res, 201, 'create task:');
  return res.json;
}

// The projection is eventually consistent: poll until pred(json) holds.
async function until(path, pred, what) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await api('GET', path, { token: alice.access_token });
    if (last.status === 200 && pred(last.json)) return last.json;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: last answer ${last.status} ${last.text.slice(0, 300)}`);
}

before(async () => {
  alice = await registerAndLogin('ai');
  bob = await registerAndLogin('ai-other');
  const res = await api('POST', '/api/v1/workspaces', { token: alice.access_token, body: { name: 'ai e2e' } });
  expectStatus(res, 201, 'create workspace:');
  ws = res.json.id;
  for (let i = 0; i < 3; i++) {
    const t = await newTask({ title: 'Weekly report', labels: ['work'], estimate_minutes: 60 });
    expectStatus(await api('POST', `/api/v1/tasks/${t.id}/complete`, { token: alice.access_token, body: { minutes: 90 } }), 200);
  }
  rent = await newTask({ title: 'Pay rent', priority: 1, due_at: new Date(Date.now() - 2 * 86400000).toISOString() });
  await newTask({ title: 'Write design doc', priority: 3, estimate_minutes: 600 });
});

test('parse returns fields and spans', async () => {
  const res = await api('POST', '/api/v1/ai/parse', {
    token: alice.access_token,
    body: { text: 'Call Bob tomorrow 5pm p1 #work', timezone: 'UTC', now: '2026-03-02T10:00:00Z' },
  });
  expectStatus(res, 200);
  assert.equal(res.json.title, 'Call Bob');
  assert.equal(res.json.due_at, '2026-03-03T17:00:00.000Z');
  assert.equal(res.json.priority, 1);
  assert.deepEqual(res.json.labels, ['work']);
  assert.ok(res.json.spans.length >= 3);
});

test('insights and recommendations come from the user\'s own tasks', async () => {
  const ins = await until('/api/v1/ai/insights?timezone=UTC',
    (j) => j.estimate_accuracy && j.estimate_accuracy.samples === 3, 'insights');
  assert.ok(ins.estimate_accuracy.median_ratio > 1.4);
  const rec = await until('/api/v1/ai/recommendations?limit=5', (j) => j.data.length === 2, 'recommendations');
  assert.equal(rec.data[0].title, 'Pay rent');
  const doc = rec.data.find((d) => d.title === 'Write design doc');
  assert.ok(doc);
  const other = await api('GET', '/api/v1/ai/recommendations', { token: bob.access_token });
  expectStatus(other, 200);
  assert.equal(other.json.data.length, 0);
});

test('suggestions: rules source, accept creates once, reject, 404 for others', async () => {
  const res = await api('POST', '/api/v1/ai/suggestions', { token: alice.access_token, body: { workspace_id: ws, limit: 10 } });
  expectStatus(res, 200);
  assert.equal(res.json.source, 'rules');
  // The three "Weekly report" completions happen within a second, so no recurrence is
  // proposed here (tests/integration/test_ai.c covers it with a backdated history).
  const bd = res.json.data.find((s) => s.kind === 'breakdown');
  const rs = res.json.data.find((s) => s.kind === 'reschedule');
  assert.ok(bd && rs, JSON.stringify(res.json));
  assert.ok(bd.tasks.length >= 3);
  // another user's suggestion, an unknown id and a malformed id are all 404
  expectStatus(await api('POST', `/api/v1/ai/suggestions/${bd.id}/accept`, { token: bob.access_token, body: {} }), 404);
  expectStatus(await api('POST', `/api/v1/ai/suggestions/${bd.id}/reject`, { token: bob.access_token, body: {} }), 404);
  expectStatus(await api('POST', `/api/v1/ai/suggestions/${crypto.randomUUID()}/accept`, { token: alice.access_token, body: {} }), 404);
  expectStatus(await api('POST', '/api/v1/ai/suggestions/not-a-uuid/reject', { token: alice.access_token, body: {} }), 404);
  const a1 = await api('POST', `/api/v1/ai/suggestions/${bd.id}/accept`, { token: alice.access_token, body: {} });
  expectStatus(a1, 200);
  const a2 = await api('POST', `/api/v1/ai/suggestions/${bd.id}/accept`, { token: alice.access_token, body: {} });
  expectStatus(a2, 200);
  assert.deepEqual(a1.json.tasks.map((t) => t.id), a2.json.tasks.map((t) => t.id));
  const list = await api('GET', `/api/v1/tasks?workspace_id=${ws}&q=Outline&limit=50`, { token: alice.access_token });
  expectStatus(list, 200);
  assert.equal(list.json.data.filter((t) => t.title === 'Outline: Write design doc').length, 1);
  expectStatus(await api('POST', `/api/v1/ai/suggestions/${rs.id}/reject`, { token: alice.access_token, body: {} }), 200);
  expectStatus(await api('POST', `/api/v1/ai/suggestions/${rs.id}/accept`, { token: alice.access_token, body: {} }), 409);
});

test('cached answers are dropped when one of the user\'s tasks changes, and only that user\'s', async () => {
  const path = '/api/v1/ai/recommendations?limit=20';
  // settle: events of earlier tests (accepted suggestions) may still be arriving
  let hit;
  for (let i = 0; ; i++) {
    const first = await until(path, (j) => j.data.some((d) => d.task_id === rent.id && d.title === 'Pay rent'), 'recommendations');
    hit = await api('GET', path, { token: alice.access_token });
    expectStatus(hit, 200);
    if (hit.json.cached && JSON.stringify(hit.json.data) === JSON.stringify(first.data)) break;
    assert.ok(i < 50, `never a cached answer: ${hit.text.slice(0, 300)}`);
  }
  const bobPath = '/api/v1/ai/insights?timezone=UTC';
  expectStatus(await api('GET', bobPath, { token: bob.access_token }), 200);
  const bobHit = await api('GET', bobPath, { token: bob.access_token });
  assert.equal(bobHit.json.cached, true);

  const p = await api('PATCH', `/api/v1/tasks/${rent.id}`, { token: alice.access_token, body: { title: 'Pay rent today' } });
  expectStatus(p, 200);
  // the first answer that shows the change was computed anew (cached: false) ...
  const fresh = await until(path, (j) => j.data.some((d) => d.task_id === rent.id && d.title === 'Pay rent today'), 'renamed task');
  assert.equal(fresh.cached, false);
  // ... and from then on no answer shows the old title
  for (let i = 0; i < 3; i++) {
    const r = await api('GET', path, { token: alice.access_token });
    expectStatus(r, 200);
    assert.ok(!r.json.data.some((d) => d.title === 'Pay rent'), JSON.stringify(r.json.data));
  }
  // Bob's tasks did not change: his cached answer stayed
  const bobAfter = await api('GET', bobPath, { token: bob.access_token });
  assert.equal(bobAfter.json.cached, true);
  assert.equal(bobAfter.json.generated_at, bobHit.json.generated_at);
});
