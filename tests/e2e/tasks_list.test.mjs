// Task lists (filters, sorts, cursor walks under concurrent inserts, full-text search,
// limit clamping), the change feed, idempotency, and the BOLA matrix.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { api, expectStatus, registerAndLogin, uniq } from './lib/client.mjs';

let alice;
let bob;
let ws;

async function create(token, body, wsId = ws) {
  const res = await api('POST', '/api/v1/tasks', { token, body: { workspace_id: wsId, ...body } });
  expectStatus(res, 201, 'create task:');
  return res.json;
}

async function list(token, query) {
  const res = await api('GET', `/api/v1/tasks?${new URLSearchParams(query)}`, { token });
  return res;
}

async function walk(token, query) {
  const seen = [];
  let cursor;
  for (let i = 0; i < 1000; i++) {
    const res = await list(token, cursor ? { ...query, cursor } : query);
    expectStatus(res, 200, 'list page:');
    seen.push(...res.json.data);
    cursor = res.json.next_cursor;
    if (!cursor) return seen;
  }
  throw new Error('cursor walk did not end');
}

before(async () => {
  alice = await registerAndLogin('lists');
  bob = await registerAndLogin('bola');
  const res = await api('POST', '/api/v1/workspaces', { token: alice.access_token, body: { name: 'lists' } });
  expectStatus(res, 201);
  ws = res.json.id;
  for (let i = 0; i < 30; i++) {
    await create(alice.access_token, {
      title: `task ${i} ${i % 3 === 0 ? 'quarterly invoice' : 'groceries'}`,
      priority: (i % 4) + 1,
      labels: i % 2 ? ['odd'] : ['even'],
      due_at: i % 5 === 0 ? null : new Date(Date.UTC(2030, 0, 1 + i)).toISOString(),
    });
  }
});

test('filters: status, priority, label, due range, overdue', async () => {
  const p1 = await walk(alice.access_token, { workspace_id: ws, priority: '1' });
  assert.ok(p1.length >= 7);
  assert.ok(p1.every((t) => t.priority === 1));
  const odd = await walk(alice.access_token, { workspace_id: ws, label: 'odd' });
  assert.ok(odd.length >= 15 && odd.every((t) => t.labels.includes('odd')));
  const before = await walk(alice.access_token, { workspace_id: ws, due_before: '2030-01-10T00:00:00Z' });
  assert.ok(before.length > 0 && before.every((t) => t.due_at && t.due_at < '2030-01-10'));
  const past = await create(alice.access_token, { title: 'late', due_at: '2001-01-01T00:00:00Z' });
  const overdue = await walk(alice.access_token, { workspace_id: ws, overdue: 'true' });
  assert.ok(overdue.some((t) => t.id === past.id));
  assert.ok(overdue.every((t) => t.due_at < new Date().toISOString()));
  const bad = await list(alice.access_token, { workspace_id: ws, priority: '9', bogus: '1' });
  assert.equal(bad.status, 400);
  const fields = bad.json.errors.map((e) => e.field);
  assert.ok(fields.includes('priority') && fields.includes('bogus'), bad.text);
});

test('every sort is ordered and a walk sees each task once', async () => {
  const keys = {
    priority: (t) => t.priority,
    created_at: (t) => t.created_at,
    updated_at: (t) => t.updated_at,
    due_at: (t) => t.due_at || '9999',
  };
  for (const [name, key] of Object.entries(keys)) {
    for (const sort of [name, `-${name}`]) {
      const all = await walk(alice.access_token, { workspace_id: ws, sort, limit: '7' });
      assert.equal(new Set(all.map((t) => t.id)).size, all.length, `duplicates in ${sort}`);
      assert.ok(all.length >= 30);
      for (let i = 1; i < all.length; i++) {
        const a = key(all[i - 1]);
        const b = key(all[i]);
        if (name === 'due_at' && (a === '9999' || b === '9999')) continue; // nulls last both ways
        if (sort.startsWith('-')) assert.ok(a >= b, `${sort} at ${i}: ${a} < ${b}`);
        else assert.ok(a <= b, `${sort} at ${i}: ${a} > ${b}`);
      }
    }
  }
});

test('cursor walk with concurrent inserts: no duplicates, no gaps among existing tasks', async () => {
  const existing = new Set((await walk(alice.access_token, { workspace_id: ws, limit: '200' })).map((t) => t.id));
  const seen = [];
  let cursor;
  let inserts = [];
  for (;;) {
    const res = await list(alice.access_token, { workspace_id: ws, limit: '5', sort: 'created_at', ...(cursor ? { cursor } : {}) });
    expectStatus(res, 200);
    seen.push(...res.json.data.map((t) => t.id));
    inserts.push(create(alice.access_token, { title: `concurrent ${uniq()}` }));
    cursor = res.json.next_cursor;
    if (!cursor) break;
  }
  await Promise.all(inserts);
  assert.equal(new Set(seen).size, seen.length, 'duplicate ids in walk');
  for (const id of existing) assert.ok(seen.includes(id), `gap: ${id}`);
});

test('tampered cursor -> 400; limit is clamped and says so', async () => {
  const res = await list(alice.access_token, { workspace_id: ws, limit: '2' });
  const c = res.json.next_cursor;
  assert.ok(c);
  const flipped = (c[3] === 'A' ? 'B' : 'A');
  const bad = await list(alice.access_token, { workspace_id: ws, limit: '2', cursor: c.slice(0, 3) + flipped + c.slice(4) });
  assert.equal(bad.status, 400, bad.text);
  const other = await list(alice.access_token, { workspace_id: ws, limit: '2', sort: 'priority', cursor: c });
  assert.equal(other.status, 400);
  const big = await list(alice.access_token, { workspace_id: ws, limit: '5000' });
  expectStatus(big, 200);
  assert.equal(big.json.limit_clamped, true);
  assert.ok(big.json.data.length <= 200);
  const zero = await list(alice.access_token, { workspace_id: ws, limit: '0' });
  assert.equal(zero.status, 400);
});

test('full-text search ranks matches, assignee=me, list across workspaces', async () => {
  const hit = await walk(alice.access_token, { workspace_id: ws, q: 'invoice' });
  assert.ok(hit.length >= 10);
  assert.ok(hit.every((t) => /invoice/.test(t.title)));
  const none = await walk(alice.access_token, { workspace_id: ws, q: 'zebra' });
  assert.equal(none.length, 0);
  const mine = await create(alice.access_token, { title: 'assigned', assignee_id: alice.user.id });
  const me = await walk(alice.access_token, { assignee: 'me' });
  assert.ok(me.some((t) => t.id === mine.id) && me.every((t) => t.assignee_id === alice.user.id));
  const everything = await walk(bob.access_token, {});
  assert.ok(everything.every((t) => t.workspace_id !== ws), 'bob sees alice tasks');
});

test('change feed: every event in seq order, tombstone for delete', async () => {
  const res = await api('POST', '/api/v1/workspaces', { token: alice.access_token, body: { name: 'feed' } });
  const fws = res.json.id;
  const t = await create(alice.access_token, { title: 'feed me' }, fws);
  await api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, body: { title: 'fed' } });
  await api('POST', `/api/v1/tasks/${t.id}/complete`, { token: alice.access_token, body: {} });
  await api('DELETE', `/api/v1/tasks/${t.id}`, { token: alice.access_token });
  const all = [];
  let since = 0;
  for (;;) {
    const page = await api('GET', `/api/v1/workspaces/${fws}/changes?since=${since}&limit=2`, { token: alice.access_token });
    expectStatus(page, 200);
    all.push(...page.json.data);
    since = page.json.next_since;
    if (!page.json.has_more) break;
  }
  const taskEvents = all.filter((e) => e.type.startsWith('task.'));
  assert.deepEqual(taskEvents.map((e) => e.type), ['task.created', 'task.updated', 'task.completed', 'task.deleted']);
  for (let i = 1; i < all.length; i++) assert.equal(all[i].seq, all[i - 1].seq + 1);
  assert.deepEqual(taskEvents[3].data.deleted, true);
  assert.equal(taskEvents[1].data.title, 'fed');
  const foreign = await api('GET', `/api/v1/workspaces/${fws}/changes?since=0`, { token: bob.access_token });
  assert.equal(foreign.status, 404);
});

test('idempotency: replay, other body -> 422', async () => {
  const key = uniq();
  const body = { workspace_id: ws, title: 'idem' };
  const a = await api('POST', '/api/v1/tasks', { token: alice.access_token, body, headers: { 'idempotency-key': key } });
  const b = await api('POST', '/api/v1/tasks', { token: alice.access_token, body, headers: { 'idempotency-key': key } });
  expectStatus(a, 201);
  expectStatus(b, 201);
  assert.equal(a.json.id, b.json.id);
  const c = await api('POST', '/api/v1/tasks', { token: alice.access_token, body: { ...body, title: 'other' }, headers: { 'idempotency-key': key } });
  assert.equal(c.status, 422, c.text);
});

test('BOLA matrix: another user gets no 2xx on any task route', async () => {
  const t = await create(alice.access_token, { title: 'private' });
  const att = await api('POST', `/api/v1/tasks/${t.id}/attachments?filename=a.txt`, {
    token: alice.access_token, raw: 'secret', headers: { 'content-type': 'text/plain' },
  });
  expectStatus(att, 201);
  const tok = bob.access_token;
  const calls = [
    ['GET', `/api/v1/tasks/${t.id}`],
    ['PATCH', `/api/v1/tasks/${t.id}`, { title: 'pwned' }],
    ['PATCH', `/api/v1/tasks/${t.id}`, { status: 'archived' }],
    ['PUT', `/api/v1/tasks/${t.id}`, { title: 'pwned' }],
    ['POST', `/api/v1/tasks/${t.id}/complete`, {}],
    ['GET', `/api/v1/tasks/${t.id}/time-entries`],
    ['POST', `/api/v1/tasks/${t.id}/time-entries`, { minutes: 5 }],
    ['GET', `/api/v1/tasks/${t.id}/attachments`],
    ['GET', `/api/v1/tasks/${t.id}/attachments/${att.json.id}`],
    ['DELETE', `/api/v1/tasks/${t.id}/attachments/${att.json.id}`],
    ['DELETE', `/api/v1/tasks/${t.id}`],
    ['GET', `/api/v1/tasks?workspace_id=${ws}`],
    ['POST', '/api/v1/tasks', { workspace_id: ws, title: 'in your workspace' }],
    ['GET', `/api/v1/workspaces/${ws}/changes?since=0`],
  ];
  for (const [method, path, body] of calls) {
    const res = await api(method, path, { token: tok, body });
    assert.ok(res.status === 404, `${method} ${path} -> ${res.status} ${res.text}`);
  }
  const still = await api('GET', `/api/v1/tasks/${t.id}`, { token: alice.access_token });
  assert.equal(still.json.title, 'private');
  assert.equal(still.json.version, 1);
});
