// A burst of concurrent creates through the gateway, over two workspaces, with refused creates
// mixed in: each create answers as if it ran alone (201, or 403/404/400), and each
// workspace's change feed holds every created task exactly once, with gapless seqs (the
// per-workspace seq taken under the workspace row lock, services/task/tasks.c).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';

const BURST = 96; // creates in flight at once, over two workspaces
let owner;
let viewer;
let stranger;
const wss = [];

before(async () => {
  owner = await registerAndLogin('batch-o');
  viewer = await registerAndLogin('batch-v');
  stranger = await registerAndLogin('batch-x');
  for (const name of ['batch a', 'batch b']) {
    const res = await api('POST', '/api/v1/workspaces', { token: owner.access_token, body: { name } });
    expectStatus(res, 201, 'create workspace:');
    wss.push(res.json.id);
  }
  const add = await api('POST', `/api/v1/workspaces/${wss[0]}/members`, {
    token: owner.access_token, body: { email: viewer.email, role: 'viewer' },
  });
  expectStatus(add, 201, 'add viewer:');
});

async function feed(ws) {
  const all = [];
  let since = 0;
  for (let page = 0; page < 100; page++) {
    const res = await api('GET', `/api/v1/workspaces/${ws}/changes?since=${since}&limit=200`, { token: owner.access_token });
    expectStatus(res, 200, 'changes:');
    all.push(...res.json.data);
    since = res.json.next_since;
    if (!res.json.has_more) break;
  }
  return all;
}

test('a burst of creates: each answers alone, every feed gapless and complete', async () => {
  const calls = [];
  for (let i = 0; i < BURST; i++) {
    const ws = wss[i % 2];
    calls.push(api('POST', '/api/v1/tasks', {
      token: owner.access_token,
      body: { workspace_id: ws, title: `burst ${i}`, priority: 1 + (i % 4), labels: [`l${i % 3}`], ...(i % 5 === 0 ? { assignee_id: owner.user.id } : {}) },
    }).then((res) => ({ kind: 'ok', i, ws, res })));
    if (i % 16 === 0) { // refused creates in the same burst
      calls.push(api('POST', '/api/v1/tasks', { token: viewer.access_token, body: { workspace_id: wss[0], title: 'viewer' } })
        .then((res) => ({ kind: 'viewer', res })));
      calls.push(api('POST', '/api/v1/tasks', { token: stranger.access_token, body: { workspace_id: wss[1], title: 'stranger' } })
        .then((res) => ({ kind: 'stranger', res })));
      calls.push(api('POST', '/api/v1/tasks', { token: owner.access_token, body: { workspace_id: wss[1], title: 'bad assignee', assignee_id: stranger.user.id } })
        .then((res) => ({ kind: 'assignee', res })));
    }
  }
  const results = await Promise.all(calls);
  const created = new Map(); // task id -> {ws, title}
  for (const r of results) {
    if (r.kind === 'ok') {
      expectStatus(r.res, 201, `create ${r.i}:`);
      assert.equal(r.res.json.workspace_id, r.ws);
      assert.equal(r.res.json.title, `burst ${r.i}`);
      assert.equal(r.res.json.priority, 1 + (r.i % 4));
      assert.equal(r.res.json.version, 1);
      assert.equal(r.res.headers.get('location'), `/api/v1/tasks/${r.res.json.id}`);
      created.set(r.res.json.id, { ws: r.ws, title: r.res.json.title });
    } else if (r.kind === 'viewer') {
      assert.equal(r.res.status, 403, r.res.text);
    } else if (r.kind === 'stranger') {
      assert.equal(r.res.status, 404, r.res.text);
    } else {
      assert.equal(r.res.status, 400, r.res.text);
      assert.match(r.res.text, /assignee_id/);
    }
  }
  assert.equal(created.size, BURST);
  for (const ws of wss) {
    const events = await feed(ws);
    for (let k = 1; k < events.length; k++) assert.equal(events[k].seq, events[k - 1].seq + 1, 'seq gap');
    const creates = events.filter((e) => e.type === 'task.created');
    const ids = creates.map((e) => e.data.id);
    assert.equal(new Set(ids).size, ids.length, 'a task twice in the feed');
    const mine = [...created].filter(([, v]) => v.ws === ws).map(([id]) => id).sort();
    assert.deepEqual([...ids].sort(), mine, 'feed and 201 replies differ');
    for (const e of creates) assert.equal(e.data.title, created.get(e.data.id).title);
    // every created task is readable as the feed says
    const one = creates[creates.length - 1].data;
    const got = await api('GET', `/api/v1/tasks/${one.id}`, { token: owner.access_token });
    expectStatus(got, 200);
    assert.deepEqual(got.json, one);
  }
});
