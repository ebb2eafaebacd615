// Task API end to end through the gateway: CRUD, validation, ETags, filters, sorts,
// cursor walks, full-text search, completion with time entries, attachments, change feed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { api, expectStatus, registerAndLogin, uniq } from './lib/client.mjs';

let alice;
let ws;

async function newTask(token, body) {
  const res = await api('POST', '/api/v1/tasks', { token, body: { workspace_id: ws, ...body } });
  expectStatus(res, 201, 'create task:');
  return res.json;
}

before(async () => {
  alice = await registerAndLogin('tasks');
  const res = await api('POST', '/api/v1/workspaces', { token: alice.access_token, body: { name: 'tasks e2e' } });
  expectStatus(res, 201, 'create workspace:');
  ws = res.json.id;
});

test('create returns the task with defaults, ETag and version 1', async () => {
  const res = await api('POST', '/api/v1/tasks', {
    token: alice.access_token,
    body: { workspace_id: ws, title: 'Write the report', labels: ['work'], due_at: '2030-01-02T03:04:05Z' },
  });
  expectStatus(res, 201);
  const t = res.json;
  assert.equal(t.title, 'Write the report');
  assert.equal(t.status, 'todo');
  assert.equal(t.priority, 4);
  assert.equal(t.version, 1);
  assert.equal(t.workspace_id, ws);
  assert.equal(t.created_by, alice.user.id);
  assert.deepEqual(t.labels, ['work']);
  assert.equal(t.due_at, '2030-01-02T03:04:05.000Z');
  assert.equal(t.time_spent_minutes, 0);
  assert.equal(t.completed_at, null);
  assert.equal(res.headers.get('etag'), '"1"');
  const got = await api('GET', `/api/v1/tasks/${t.id}`, { token: alice.access_token });
  expectStatus(got, 200);
  assert.deepEqual(got.json, t);
});

test('validation names every bad field, read-only and unknown fields are refused', async () => {
  const cases = [
    [{ title: '' }, 'title'],
    [{ title: 'x'.repeat(501) }, 'title'],
    [{ title: 't', description: 'd'.repeat(20001) }, 'description'],
    [{ title: 't', priority: 0 }, 'priority'],
    [{ title: 't', priority: 5 }, 'priority'],
    [{ title: 't', labels: Array(21).fill('a') }, 'labels'],
    [{ title: 't', labels: ['y'.repeat(51)] }, 'labels[0]'],
    [{ title: 't', estimate_minutes: 100001 }, 'estimate_minutes'],
    [{ title: 't', status: 'closed' }, 'status'],
    [{ title: 't', due_at: 'soon' }, 'due_at'],
    [{ title: 't', version: 9 }, 'version'],
    [{ title: 't', created_by: alice.user.id }, 'created_by'],
    [{ title: 't', id: uniq() }, 'id'],
    [{ title: 't', is_admin: true }, 'is_admin'],
  ];
  for (const [body, field] of cases) {
    const res = await api('POST', '/api/v1/tasks', { token: alice.access_token, body: { workspace_id: ws, ...body } });
    assert.equal(res.status, 400, `${field}: ${res.text}`);
    assert.ok(res.json.errors.some((e) => e.field === field), `${field} not named: ${res.text}`);
  }
  const t = await newTask(alice.access_token, { title: 'ro' });
  for (const field of ['workspace_id', 'completed_at', 'time_spent_minutes', 'updated_at']) {
    const res = await api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, body: { [field]: null } });
    assert.equal(res.status, 400, res.text);
    assert.ok(res.json.errors.some((e) => e.field === field && /read-only/.test(e.reason)), res.text);
  }
});

test('assignee must be a workspace member', async () => {
  const bob = await registerAndLogin('outsider');
  const res = await api('POST', '/api/v1/tasks', {
    token: alice.access_token, body: { workspace_id: ws, title: 't', assignee_id: bob.user.id },
  });
  assert.equal(res.status, 400, res.text);
  assert.ok(res.json.errors.some((e) => e.field === 'assignee_id'));
  const ok = await newTask(alice.access_token, { title: 'mine', assignee_id: alice.user.id });
  assert.equal(ok.assignee_id, alice.user.id);
});

test('PATCH is partial, null clears, version and ETag move; PUT replaces', async () => {
  const t = await newTask(alice.access_token, { title: 'p', description: 'desc', priority: 2, due_at: '2031-01-01T00:00:00Z' });
  const p = await api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, body: { due_at: null, title: 'p2' } });
  expectStatus(p, 200);
  assert.equal(p.json.title, 'p2');
  assert.equal(p.json.due_at, null);
  assert.equal(p.json.description, 'desc');
  assert.equal(p.json.priority, 2);
  assert.equal(p.json.version, 2);
  assert.equal(p.headers.get('etag'), '"2"');
  const put = await api('PUT', `/api/v1/tasks/${t.id}`, { token: alice.access_token, body: { title: 'replaced' } });
  expectStatus(put, 200);
  assert.equal(put.json.description, null);
  assert.equal(put.json.priority, 4);
  assert.equal(put.json.version, 3);
  const bad = await api('PUT', `/api/v1/tasks/${t.id}`, { token: alice.access_token, body: { description: 'no title' } });
  assert.equal(bad.status, 400);
});

test('ETag: If-None-Match -> 304, If-Match mismatch -> 412, match -> 200', async () => {
  const t = await newTask(alice.access_token, { title: 'etag' });
  const nm = await api('GET', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-none-match': '"1"' } });
  assert.equal(nm.status, 304);
  assert.equal(nm.text, '');
  const stale = await api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-match': '"7"' }, body: { title: 'x' } });
  assert.equal(stale.status, 412, stale.text);
  const ok = await api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-match': '"1"' }, body: { title: 'x' } });
  expectStatus(ok, 200);
  const changed = await api('GET', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-none-match': '"1"' } });
  assert.equal(changed.status, 200);
  const del = await api('DELETE', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-match': '"1"' } });
  assert.equal(del.status, 412);
  const del2 = await api('DELETE', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-match': '"2"' } });
  assert.equal(del2.status, 204, del2.text);
  const gone = await api('GET', `/api/v1/tasks/${t.id}`, { token: alice.access_token });
  assert.equal(gone.status, 404);
});

test('100 concurrent If-Match updates: final version = initial + successes', async () => {
  const t = await newTask(alice.access_token, { title: 'race' });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, headers: { 'if-match': '"1"' }, body: { title: `r${i}` } })));
  const ok = results.filter((r) => r.status >= 200 && r.status < 300).length;
  for (const r of results) assert.ok([200, 412, 429, 503].includes(r.status), `${r.status} ${r.text}`);
  const final = await api('GET', `/api/v1/tasks/${t.id}`, { token: alice.access_token });
  assert.equal(final.json.version, 1 + ok);
  assert.equal(ok, 1);
});

test('complete with minutes logs time; time entries list; reopen by PATCH', async () => {
  const t = await newTask(alice.access_token, { title: 'finish me' });
  const log = await api('POST', `/api/v1/tasks/${t.id}/time-entries`, { token: alice.access_token, body: { minutes: 30, note: 'start' } });
  expectStatus(log, 201);
  assert.equal(log.json.minutes, 30);
  const tooMuch = await api('POST', `/api/v1/tasks/${t.id}/time-entries`, { token: alice.access_token, body: { minutes: 1441 } });
  assert.equal(tooMuch.status, 400);
  const c = await api('POST', `/api/v1/tasks/${t.id}/complete`, { token: alice.access_token, body: { minutes: 15 } });
  expectStatus(c, 200);
  assert.equal(c.json.status, 'done');
  assert.ok(c.json.completed_at);
  assert.equal(c.json.time_spent_minutes, 45);
  const list = await api('GET', `/api/v1/tasks/${t.id}/time-entries`, { token: alice.access_token });
  expectStatus(list, 200);
  assert.equal(list.json.data.length, 2);
  assert.deepEqual(list.json.data.map((e) => e.minutes).sort(), [15, 30]);
  const reopen = await api('PATCH', `/api/v1/tasks/${t.id}`, { token: alice.access_token, body: { status: 'todo' } });
  expectStatus(reopen, 200);
  assert.equal(reopen.json.completed_at, null);
});

test('attachment round trip: bytes, sha256, headers, list, delete', async () => {
  const t = await newTask(alice.access_token, { title: 'files' });
  const bytes = randomBytes(200000);
  const up = await api('POST', `/api/v1/tasks/${t.id}/attachments?filename=${encodeURIComponent('re"port/../x.bin')}`, {
    token: alice.access_token, raw: bytes, headers: { 'content-type': 'application/x-test' },
  });
  expectStatus(up, 201);
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.equal(up.json.sha256, sha);
  assert.equal(up.json.size, bytes.length);
  assert.equal(up.json.content_type, 'application/x-test');
  assert.doesNotMatch(up.json.filename, /["/]/);
  const get = await fetch(`${process.env.TM_TEST_GATEWAY_URL || 'http://127.0.0.1:18080'}/api/v1/tasks/${t.id}/attachments/${up.json.id}`,
    { headers: { authorization: `Bearer ${alice.access_token}` } });
  assert.equal(get.status, 200);
  const back = Buffer.from(await get.arrayBuffer());
  assert.equal(createHash('sha256').update(back).digest('hex'), sha);
  assert.equal(get.headers.get('content-type'), 'application/x-test');
  assert.match(get.headers.get('content-disposition'), /^attachment; filename="[^"/]+"$/);
  const list = await api('GET', `/api/v1/tasks/${t.id}/attachments`, { token: alice.access_token });
  assert.equal(list.json.data.length, 1);
  const del = await api('DELETE', `/api/v1/tasks/${t.id}/attachments/${up.json.id}`, { token: alice.access_token });
  assert.equal(del.status, 204);
  const again = await api('GET', `/api/v1/tasks/${t.id}/attachments/${up.json.id}`, { token: alice.access_token });
  assert.equal(again.status, 404);
  const max = await api('POST', `/api/v1/tasks/${t.id}/attachments?filename=max`, {
    token: alice.access_token, raw: Buffer.alloc(5 * 1024 * 1024, 7), headers: { 'content-type': 'application/octet-stream' },
  });
  expectStatus(max, 201, '5 MiB upload (nats-server needs max_payload >= 8MB):');
  // One byte more: 413, or the gateway may refuse the body by closing the connection.
  let bigStatus;
  try {
    const big = await api('POST', `/api/v1/tasks/${t.id}/attachments?filename=big`, {
      token: alice.access_token, raw: Buffer.alloc(5 * 1024 * 1024 + 1), headers: { 'content-type': 'application/octet-stream' },
    });
    bigStatus = big.status;
  } catch (e) {
    bigStatus = e.cause?.code || 'error';
  }
  assert.ok([413, 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'].includes(bigStatus), `oversize upload: ${bigStatus}`);
  const after = await api('GET', `/api/v1/tasks/${t.id}/attachments`, { token: alice.access_token });
  assert.equal(after.json.data.length, 1, 'the oversize upload must not be stored');
});
