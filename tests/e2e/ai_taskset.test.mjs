// tm-ai's in-memory task sets (services/ai/tsets.h) through a gateway, on a private cluster
// (lib/cluster.mjs) whose tm-ai keeps no cached answers (TM_AI_CACHE_ENTRIES=0): every
// answer is computed from the user's set in memory, so these fail if the set is not kept in
// step with the projection.
//  - Same replica: a change of one of the user's tasks (rename, completion, deletion, a new
//    task, an assignment that takes a task away from a user) is in the very next answer once
//    the projection (ai.tasks, read here with psql) holds it; the sets caught up from the
//    change log (tm_ai_taskset_total{result="delta"}) and were loaded whole only once per user.
//  - Another replica: a second tm-ai whose consumer cannot subscribe (a durable name NATS
//    refuses), so every change reaches it only through Postgres, as when another replica
//    applied it. While both answer (NATS spreads the requests), no answer asked for more than
//    AI_CACHE_RECHECK_MS (1 s) + slack after the change became visible shows the old title,
//    and the second replica caught up from the change log too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, apiAt, findDaemon } from './lib/cluster.mjs';
import { PASSWORD, uniq } from './lib/client.mjs';
import { ROOT, freePort, httpGet, metric, sleep } from './lib/procs.mjs';

const RECHECK_MS = 1000; // AI_CACHE_RECHECK_MS in services/ai/cache.h
const SLACK_MS = 700; // one generation query and scheduling on a loaded (ASan) machine
const DEADLINE_MS = 15000; // every wait below is bounded by this

let cluster;
let alice;
let bob;
let ws;
const tasks = {};

const call = (who, method, p, body) => apiAt(cluster.base, method, p, { token: who.token, body, timeout: 15000 });

async function user(name) {
  const email = `${name}-${uniq()}@test.local`;
  const reg = await apiAt(cluster.base, 'POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: name } });
  assert.equal(reg.status, 201, reg.text);
  const r = await apiAt(cluster.base, 'POST', '/api/v1/auth/login', { body: { email, password: PASSWORD, device: `e2e-${name}` } });
  assert.equal(r.status, 200, r.text);
  return { token: r.json.access_token, id: reg.json.id, email };
}

async function newTask(who, body) {
  const r = await call(who, 'POST', '/api/v1/tasks', { workspace_id: ws, ...body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

// Poll the projection until the SQL answers want (what tm-ai's consumer committed).
async function projection(sql, want, what) {
  const until = Date.now() + DEADLINE_MS;
  let got;
  while (Date.now() < until) {
    got = await cluster.sql(sql);
    if (got === want) return Date.now();
    await sleep(20);
  }
  assert.fail(`${what}: ai.tasks says ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

const row = (id, cols) => `SELECT ${cols} FROM ai.tasks WHERE id = '${id}'`;

async function titles(who) {
  const r = await call(who, 'GET', '/api/v1/ai/recommendations?limit=50');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.cached, false);
  return r.json.data.map((d) => d.title);
}

const sets = async (port, result) => metric(port, `tm_ai_taskset_total{result="${result}"}`);

before(async () => {
  cluster = await startCluster({ name: 'ai_taskset', services: ['task', 'ai', 'gateway'], env: { ai: { TM_AI_CACHE_ENTRIES: '0' } } });
  alice = await user('ts-alice');
  bob = await user('ts-bob');
  const r = await call(alice, 'POST', '/api/v1/workspaces', { name: 'task sets' });
  assert.equal(r.status, 201, r.text);
  ws = r.json.id;
  const m = await call(alice, 'POST', `/api/v1/workspaces/${ws}/members`, { email: bob.email, role: 'editor' });
  assert.equal(m.status, 201, m.text);
  tasks.a = await newTask(alice, { title: 'Alpha' });
  tasks.b = await newTask(alice, { title: 'Beta', priority: 1, due_at: new Date(Date.now() - 86400000).toISOString() });
  tasks.c = await newTask(alice, { title: 'Gamma' });
  tasks.e = await newTask(alice, { title: 'Epsilon for Bob', assignee_id: bob.id });
  await projection(`SELECT count(*) FROM ai.tasks WHERE created_by = '${alice.id}'`, '4', 'seeded tasks');
});

after(async () => {
  if (cluster) await cluster.stop();
});

test('a change of one task is in the next answer of the replica that applied it', async () => {
  const port = cluster.adminPorts.ai;
  assert.deepEqual((await titles(alice)).sort(), ['Alpha', 'Beta', 'Epsilon for Bob', 'Gamma']);
  assert.deepEqual(await titles(bob), ['Epsilon for Bob']);
  const loads = await sets(port, 'load');

  let r = await call(alice, 'PATCH', `/api/v1/tasks/${tasks.a.id}`, { title: 'Alpha renamed' });
  assert.equal(r.status, 200, r.text);
  await projection(row(tasks.a.id, 'title'), 'Alpha renamed', 'rename');
  let t = await titles(alice);
  assert.ok(t.includes('Alpha renamed') && !t.includes('Alpha'), JSON.stringify(t));

  r = await call(alice, 'POST', `/api/v1/tasks/${tasks.b.id}/complete`, { minutes: 5 });
  assert.equal(r.status, 200, r.text);
  await projection(row(tasks.b.id, 'status'), 'done', 'completion');
  t = await titles(alice);
  assert.ok(!t.includes('Beta'), JSON.stringify(t)); // recommendations are open tasks only

  r = await call(alice, 'DELETE', `/api/v1/tasks/${tasks.c.id}`);
  assert.equal(r.status, 204, r.text);
  await projection(row(tasks.c.id, 'deleted'), 't', 'deletion');
  t = await titles(alice);
  assert.ok(!t.includes('Gamma'), JSON.stringify(t));

  const d = await newTask(alice, { title: 'Delta new' });
  await projection(row(d.id, 'title'), 'Delta new', 'new task');
  t = await titles(alice);
  assert.ok(t.includes('Delta new'), JSON.stringify(t));

  // assigned to Alice instead: the task is no longer Bob's (he did not create it)
  r = await call(alice, 'PATCH', `/api/v1/tasks/${tasks.e.id}`, { assignee_id: alice.id });
  assert.equal(r.status, 200, r.text);
  await projection(row(tasks.e.id, 'assignee_id'), alice.id, 'reassignment');
  assert.deepEqual(await titles(bob), []);
  assert.deepEqual((await titles(alice)).sort(), ['Alpha renamed', 'Delta new', 'Epsilon for Bob']);

  // caught up from the change log each time, never loaded whole again
  assert.equal(await sets(port, 'load'), loads);
  assert.ok((await sets(port, 'delta')) >= 5, `deltas: ${await sets(port, 'delta')}`);
});

// A tm-ai replica beside the cluster's, on its database and NATS, whose consumer never runs.
async function startReplica() {
  const admin = await freePort();
  const pg = new URL(cluster.pgUrl);
  pg.username = 'tm_ai';
  pg.password = '';
  const logFile = path.join(cluster.dir, 'logs', 'ai-replica.log');
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn(findDaemon('ai', ['task', 'ai', 'gateway']), [], {
    env: {
      ...process.env,
      TM_NATS_URL: cluster.natsUrl,
      TM_PG_URL: pg.toString(),
      TM_MIGRATIONS_DIR: path.join(ROOT, 'services', 'ai', 'migrations'),
      TM_ADMIN_PORT: String(admin),
      TM_LOG_LEVEL: 'info',
      TM_AI_CACHE_ENTRIES: '0',
      TM_AI_CONSUMER: 'no.consumer', // '.' is not allowed in a durable name: subscribe fails
    },
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const until = Date.now() + 60000; // ASan start-up is slow
  for (;;) {
    assert.equal(proc.exitCode, null, `replica exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      if ((await httpGet(`http://127.0.0.1:${admin}/readyz`)).status === 200) break;
    } catch { /* not listening yet */ }
    assert.ok(Date.now() < until, 'replica not ready');
    await sleep(100);
  }
  return {
    admin,
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
      const log = fs.readFileSync(logFile, 'utf8');
      assert.ok(!/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(log), `sanitizer report:\n${log.slice(-3000)}`);
      assert.match(log, /consumer: pull subscribe failed/); // it never applied an event
    },
  };
}

test('another replica\'s change is seen within the recheck bound', async () => {
  const replica = await startReplica();
  try {
    // both replicas answer Alice (NATS spreads requests): until the replica has a set
    const until = Date.now() + DEADLINE_MS;
    while (!((await sets(replica.admin, 'load')) >= 1)) {
      assert.ok(Date.now() < until, 'the replica never answered');
      await titles(alice);
    }
    const served = async () => (await sets(replica.admin, 'hit')) + (await sets(replica.admin, 'check')) +
      (await sets(replica.admin, 'delta'));
    const before = await served();

    const answers = [];
    let stop = false;
    const poll = (async () => {
      while (!stop) {
        const sent = Date.now();
        const t = await titles(alice);
        answers.push({ sent, fresh: t.includes('Alpha again'), stale: t.includes('Alpha renamed') });
        await sleep(30);
      }
    })();
    const r = await call(alice, 'PATCH', `/api/v1/tasks/${tasks.a.id}`, { title: 'Alpha again' });
    assert.equal(r.status, 200, r.text);
    const visible = await projection(row(tasks.a.id, 'title'), 'Alpha again', 'rename');
    await sleep(RECHECK_MS + SLACK_MS + 1000);
    stop = true;
    await poll;

    const late = answers.filter((a) => a.sent > visible + RECHECK_MS + SLACK_MS);
    assert.ok(late.length >= 5, `answers after the bound: ${late.length}`);
    for (const a of late) assert.ok(a.fresh && !a.stale, `stale answer ${a.sent - visible} ms after the change`);
    // the replica answered in the window, caught up from the change log, loaded once
    assert.ok((await served()) > before);
    assert.ok((await sets(replica.admin, 'delta')) >= 1, 'the replica never caught up');
    assert.equal(await sets(replica.admin, 'load'), 1);
  } finally {
    await replica.stop();
  }
});
