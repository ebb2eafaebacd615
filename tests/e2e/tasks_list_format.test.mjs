// Task list pages as tm-task writes them from binary columns (services/task/task_json.c),
// with the membership check inside the list statement (services/task/task_list.c):
// every list item equals the task's own GET (which Postgres's task_to_json builds), combined
// filters over every sort and cursor walk, and who may list a workspace.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TASK_BIN = process.env.TM_TEST_TASK_BIN || path.join(ROOT, 'build/services/task/tm-task');
const TIME_RE = /^\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const SORTS = ['created_at', '-created_at', 'updated_at', '-updated_at', 'due_at', '-due_at', 'priority', '-priority'];

let owner;
let ws;
const made = [];

async function create(body, wsId = ws, token = owner.access_token) {
  const res = await api('POST', '/api/v1/tasks', { token, body: { workspace_id: wsId, ...body } });
  expectStatus(res, 201, `create ${JSON.stringify(body)}:`);
  return res.json;
}

function list(token, query) {
  return api('GET', `/api/v1/tasks?${new URLSearchParams(query)}`, { token });
}

async function walk(token, query) {
  const seen = [];
  let cursor;
  for (let i = 0; i < 500; i++) {
    const res = await list(token, cursor ? { ...query, cursor } : query);
    expectStatus(res, 200, `list ${JSON.stringify(query)}:`);
    seen.push(...res.json.data);
    cursor = res.json.next_cursor;
    if (!cursor) return seen;
  }
  throw new Error('cursor walk did not end');
}

before(async () => {
  owner = await registerAndLogin('listfmt');
  const res = await api('POST', '/api/v1/workspaces', { token: owner.access_token, body: { name: 'list format' } });
  expectStatus(res, 201);
  ws = res.json.id;
  // values whose JSON text is easy to get wrong: escapes, control characters, multibyte
  // UTF-8, empty and null strings, times before 1970 and in 1 BC (to_char's year 0001)
  const tricky = [
    { title: 'q"uote \\ back\nnew\ttab \u0001 ctl \u001f del\u007f é 😀', description: 'a\r\nb\b\f', labels: ['a"b', 'c\\d', 'ü', ''.padEnd(50, 'x')], due_at: '2030-01-02T03:04:05.678Z', priority: 1, estimate_minutes: 90 },
    { title: 'empty description', description: '', labels: [], due_at: '1969-12-31T23:59:59.999Z', assignee_id: owner.user.id },
    { title: 'one BC', due_at: '0001-01-01T00:30:00+01:00', status: 'in_progress', priority: 3 },
    { title: 'last day', due_at: '9999-12-31T23:59:59.999Z', status: 'done', estimate_minutes: 0 },
    { title: 'leap', due_at: '2000-02-29T12:00:00.123456Z', status: 'archived', priority: 2 },
  ];
  for (const body of tricky) made.push(await create(body));
  // a grid of status x priority, some with due dates, for the combined filters
  const statuses = ['todo', 'in_progress', 'done'];
  for (let i = 0; i < 36; i++) {
    made.push(await create({
      title: `grid ${i}`,
      status: statuses[i % 3],
      priority: (i % 4) + 1,
      labels: [`l${i % 5}`],
      due_at: i % 3 === 0 ? null : new Date(Date.UTC(2031, 0, 1 + (i % 7), i)).toISOString(),
    }));
  }
  // updates so that updated_at differs from created_at order
  for (const t of made.slice(10, 14)) {
    expectStatus(await api('PATCH', `/api/v1/tasks/${t.id}`, { token: owner.access_token, body: { estimate_minutes: 5 } }), 200, 'patch');
  }
});

test('every list item equals the task GET returns, times as RFC 3339 milliseconds', async () => {
  const all = await walk(owner.access_token, { workspace_id: ws, limit: '7' });
  assert.equal(all.length, made.length);
  for (const item of all) {
    const one = expectStatus(await api('GET', `/api/v1/tasks/${item.id}`, { token: owner.access_token }), 200, 'get');
    assert.deepEqual(item, one.json, `list item ${item.id} differs from its GET`);
    for (const k of ['created_at', 'updated_at', 'due_at', 'completed_at']) {
      if (item[k] !== null) assert.match(item[k], TIME_RE, `${k} of ${item.title}`);
    }
  }
  const bc = all.find((t) => t.title === 'one BC');
  assert.equal(bc.due_at, '0001-12-31T23:30:00.000Z'); // 1 BC: to_char's YYYY counts it as 0001
  const tricky = all.find((t) => t.title.startsWith('q"uote'));
  assert.deepEqual(tricky.labels, ['a"b', 'c\\d', 'ü', ''.padEnd(50, 'x')]);
  assert.equal(tricky.description, 'a\r\nb\b\f');
  assert.equal(all.find((t) => t.title === 'empty description').description, '');
});

test('status and priority filters with every sort: each page filtered, the walk complete', async () => {
  const everything = await walk(owner.access_token, { workspace_id: ws, limit: '200' });
  for (const [status, priority] of [['todo', '2'], ['done', '4'], ['in_progress', '3'], ['archived', '1']]) {
    const want = everything.filter((t) => t.status === status && t.priority === Number(priority)).map((t) => t.id).sort();
    for (const sort of SORTS) {
      const got = await walk(owner.access_token, { workspace_id: ws, status, priority, sort, limit: '2' });
      assert.ok(got.every((t) => t.status === status && t.priority === Number(priority)), `${status}/${priority} ${sort}`);
      assert.deepEqual(got.map((t) => t.id).sort(), want, `${status}/${priority} ${sort}: walk differs from the filter`);
    }
  }
  const todo = await walk(owner.access_token, { workspace_id: ws, status: 'todo', sort: '-priority', limit: '3' });
  assert.equal(todo.length, everything.filter((t) => t.status === 'todo').length);
  for (let i = 1; i < todo.length; i++) assert.ok(todo[i - 1].priority >= todo[i].priority, 'ordered by -priority');
});

test('full-text walk with a rank cursor: every hit once', async () => {
  const one = expectStatus(await list(owner.access_token, { workspace_id: ws, q: 'grid', limit: '200' }), 200, 'q page');
  const walked = await walk(owner.access_token, { workspace_id: ws, q: 'grid', limit: '4' });
  assert.equal(one.json.data.length, 36);
  assert.equal(new Set(walked.map((t) => t.id)).size, walked.length, 'duplicates in the rank walk');
  assert.deepEqual(walked.map((t) => t.id).sort(), one.json.data.map((t) => t.id).sort());
});

test('who may list: members (viewer too), not others (404), moderators; empty page for a member', async () => {
  const viewer = await registerAndLogin('listfmt-viewer');
  const stranger = await registerAndLogin('listfmt-stranger');
  const add = await api('POST', `/api/v1/workspaces/${ws}/members`, {
    token: owner.access_token, body: { email: viewer.email, role: 'viewer' },
  });
  expectStatus(add, 201, 'add viewer');
  const v = expectStatus(await list(viewer.access_token, { workspace_id: ws, status: 'todo', limit: '5' }), 200, 'viewer');
  assert.equal(v.json.data.length, 5);
  const cursor = v.json.next_cursor;
  for (const query of [{ workspace_id: ws }, { workspace_id: ws, status: 'todo', priority: '2' }, { workspace_id: ws, status: 'todo', limit: '5', cursor }, { workspace_id: ws, q: 'grid' }]) {
    const res = await list(stranger.access_token, query);
    assert.equal(res.status, 404, `stranger ${JSON.stringify(query)} -> ${res.status} ${res.text}`);
    assert.ok(!res.text.includes('grid'), 'a 404 leaks no task');
  }
  const nowhere = await list(stranger.access_token, { workspace_id: '00000000-0000-4000-8000-000000000000' });
  assert.equal(nowhere.status, 404);

  const empty = await api('POST', '/api/v1/workspaces', { token: stranger.access_token, body: { name: 'empty' } });
  expectStatus(empty, 201);
  const page = expectStatus(await list(stranger.access_token, { workspace_id: empty.json.id, status: 'done' }), 200, 'empty');
  assert.deepEqual(page.json, { data: [], next_cursor: null });

  const gone = await api('DELETE', `/api/v1/workspaces/${ws}/members/${viewer.user.id}`, { token: owner.access_token });
  assert.ok(gone.status === 204 || gone.status === 200, `remove viewer: ${gone.status} ${gone.text}`);
  const after = await list(viewer.access_token, { workspace_id: ws });
  assert.equal(after.status, 404, 'a removed member no longer lists');

  const mod = await registerAndLogin('listfmt-mod');
  execFileSync(TASK_BIN, ['promote', mod.email, 'moderator'], {
    env: { ...process.env, TM_PG_URL: process.env.TM_TEST_TASK_PG_URL }, stdio: 'pipe',
  });
  const relog = expectStatus(await api('POST', '/api/v1/auth/login', {
    body: { email: mod.email, password: mod.password, device: 'listfmt-mod' },
  }), 200, 'moderator login');
  const m = expectStatus(await list(relog.json.access_token, { workspace_id: ws, status: 'done', priority: '4', limit: '200' }), 200, 'moderator');
  const want = (await walk(owner.access_token, { workspace_id: ws, status: 'done', priority: '4' })).map((t) => t.id);
  assert.deepEqual(m.json.data.map((t) => t.id), want);
  assert.ok(want.length > 0);
});
