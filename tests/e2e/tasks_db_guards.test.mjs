// The guards that stand for the database constraints dropped by
// services/task/migrations/032_create_cost.sql:
//  - the CHECK limits of task.tasks: tm-task's JSON field tables refuse every out-of-range
//    value on PATCH and PUT too (create: tasks.test.mjs), and nothing is written;
//  - the foreign key tasks.workspace_id -> workspaces (ON DELETE CASCADE): a workspace delete
//    still deletes its tasks (trigger), including a task whose create held the workspace row
//    while the delete waited, and a create racing a delete fails with 404, writing nothing.
// Reads and deletes in Postgres with psql as the superuser (TM_TEST_PG_URL).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { api, expectStatus, registerAndLogin, uniq } from './lib/client.mjs';

const PG_URL = process.env.TM_TEST_PG_URL || 'postgresql://postgres@127.0.0.1:25432/taskmesh';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sql(query) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', PG_URL, '-c', query], {
    encoding: 'utf8',
    timeout: 15000,
  }).trim();
}

// A psql session in the background (statements separated by ';'); resolves with its output.
function sqlAsync(script) {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', PG_URL], { encoding: 'utf8', timeout: 20000 },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}: ${errOut}`)) : resolve(out.trim())))
      .stdin.end(script);
  });
}

const count = (query) => Number(sql(query));

let owner;
before(async () => {
  owner = await registerAndLogin('dbguard');
});

async function newWorkspace() {
  const res = await api('POST', '/api/v1/workspaces', { token: owner.access_token, body: { name: `g ${uniq()}` } });
  return expectStatus(res, 201, 'workspace').json.id;
}

async function newTask(ws) {
  const res = await api('POST', '/api/v1/tasks', { token: owner.access_token, body: { workspace_id: ws, title: 'guarded' } });
  return expectStatus(res, 201, 'create').json;
}

test('PATCH and PUT refuse every limit the dropped CHECKs held, writing nothing', async () => {
  const ws = await newWorkspace();
  const t = await newTask(ws);
  const cases = [
    [{ title: '' }, 'title'],
    [{ title: 'é'.repeat(501) }, 'title'], // code points, like char_length
    [{ description: 'd'.repeat(20001) }, 'description'],
    [{ status: 'closed' }, 'status'],
    [{ priority: 0 }, 'priority'],
    [{ priority: 5 }, 'priority'],
    [{ labels: Array(21).fill('a') }, 'labels'],
    [{ estimate_minutes: -1 }, 'estimate_minutes'],
    [{ estimate_minutes: 100001 }, 'estimate_minutes'],
  ];
  for (const [body, field] of cases) {
    for (const method of ['PATCH', 'PUT']) {
      const full = method === 'PUT' ? { title: 'guarded', ...body } : body;
      const res = await api(method, `/api/v1/tasks/${t.id}`, { token: owner.access_token, body: full });
      assert.equal(res.status, 400, `${method} ${field}: ${res.text}`);
      assert.ok(res.json.errors.some((e) => e.field === field), `${method} ${field} not named: ${res.text}`);
    }
  }
  const row = sql(`SELECT version || '|' || title || '|' || status FROM task.tasks WHERE id = '${t.id}'`);
  assert.equal(row, '1|guarded|todo');
  // the limits themselves are still accepted
  const edge = { title: 'é'.repeat(500), description: 'd'.repeat(20000), status: 'archived', priority: 1,
    labels: Array(20).fill('a'), estimate_minutes: 100000 };
  expectStatus(await api('PUT', `/api/v1/tasks/${t.id}`, { token: owner.access_token, body: edge }), 200, 'edge');
});

test('deleting a workspace deletes its tasks; a create in it afterwards is 404', async () => {
  const ws = await newWorkspace();
  await newTask(ws);
  await newTask(ws);
  assert.equal(count(`SELECT count(*) FROM task.tasks WHERE workspace_id = '${ws}'`), 2);
  sql(`DELETE FROM task.workspaces WHERE id = '${ws}'`);
  assert.equal(count(`SELECT count(*) FROM task.tasks WHERE workspace_id = '${ws}'`), 0);
  const res = await api('POST', '/api/v1/tasks', { token: owner.access_token, body: { workspace_id: ws, title: 'late' } });
  assert.equal(res.status, 404, res.text);
  assert.equal(count(`SELECT count(*) FROM task.tasks WHERE workspace_id = '${ws}'`), 0);
});

test('a create racing a workspace delete fails with 404 and writes nothing', async () => {
  const ws = await newWorkspace();
  await newTask(ws);
  const events = count(`SELECT count(*) FROM task.outbox WHERE workspace_id = '${ws}'`);
  // The delete holds the workspace row (uncommitted) while the create runs: the create still
  // sees the membership, inserts, then waits for the row and finds it gone.
  const del = sqlAsync(`BEGIN; DELETE FROM task.workspaces WHERE id = '${ws}'; SELECT pg_sleep(1.5); COMMIT;`);
  await sleep(400);
  const t0 = Date.now();
  const res = await api('POST', '/api/v1/tasks', { token: owner.access_token, body: { workspace_id: ws, title: 'raced' } });
  await del;
  assert.equal(res.status, 404, res.text);
  assert.ok(Date.now() - t0 >= 500, 'the create did not wait for the delete: the race was not exercised');
  assert.equal(count(`SELECT count(*) FROM task.tasks WHERE workspace_id = '${ws}'`), 0);
  assert.equal(count(`SELECT count(*) FROM task.outbox WHERE workspace_id = '${ws}'`), events);
});

test('a delete that waits for a create holding the workspace row deletes that task too', async () => {
  const ws = await newWorkspace();
  const t = await newTask(ws);
  const id = t.id.replace(/.$/, (c) => (c === '0' ? '1' : '0')); // another uuid
  // The create statement's order: insert the task, take the workspace row (event_seq), commit.
  const create = sqlAsync(`BEGIN;
    INSERT INTO task.tasks (id, workspace_id, title, created_by) VALUES ('${id}', '${ws}', 'held', '${owner.user.id}');
    UPDATE task.workspaces SET event_seq = event_seq + 1 WHERE id = '${ws}';
    SELECT pg_sleep(1.5); COMMIT;`);
  await sleep(400);
  const del = sqlAsync(`DELETE FROM task.workspaces WHERE id = '${ws}'`);
  await create;
  await del;
  assert.equal(count(`SELECT count(*) FROM task.workspaces WHERE id = '${ws}'`), 0);
  assert.equal(count(`SELECT count(*) FROM task.tasks WHERE workspace_id = '${ws}'`), 0);
});
