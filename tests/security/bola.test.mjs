// OWASP API1:2023 Broken Object Level Authorization. User A owns a workspace, a task, a time
// entry, an attachment, a session; user B (a plain user, member of nothing of A's) calls every
// route of the route table with A's ids, with bodies valid enough to reach the
// authorisation check. Expected: zero 2xx, and 404 rather than 403 (no existence leak) on
// A's objects; A's data unchanged afterwards. Also the WebSocket room of A's workspace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { api, newUser, routeTable, uniq, WS_URL } from './helpers.mjs';

const BODIES = {
  'PATCH /api/v1/tasks/{id}': { title: 'pwned' },
  'PUT /api/v1/tasks/{id}': { title: 'pwned' },
  'POST /api/v1/tasks/{id}/complete': {},
  'POST /api/v1/tasks/{id}/time-entries': { minutes: 5 },
  'POST /api/v1/workspaces/{id}/members': { role: 'owner' },
  'POST /api/v1/notifications/{id}/read': {},
  'POST /api/v1/ai/suggestions/{id}/accept': {},
  'POST /api/v1/ai/suggestions/{id}/reject': {},
  'PATCH /api/v1/admin/users/{id}': { role: 'admin' },
  'POST /api/v1/auth/logout': {},
};

let A, B, ws, task, attachment, sessionA;

async function setup() {
  A = await newUser('bola-a');
  B = await newUser('bola-b');
  const w = await api('POST', '/api/v1/workspaces', { token: A.access_token, body: { name: `a-${uniq()}` } });
  assert.equal(w.status, 201, w.text);
  ws = w.json.id;
  const t = await api('POST', '/api/v1/tasks', { token: A.access_token, body: { workspace_id: ws, title: 'secret plan' } });
  assert.equal(t.status, 201, t.text);
  task = t.json;
  const te = await api('POST', `/api/v1/tasks/${task.id}/time-entries`, { token: A.access_token, body: { minutes: 10 } });
  assert.ok(te.status === 201 || te.status === 200, te.text);
  const at = await api('POST', `/api/v1/tasks/${task.id}/attachments?filename=a.txt`, {
    token: A.access_token, raw: 'top secret', headers: { 'content-type': 'text/plain' } });
  assert.ok(at.status === 201 || at.status === 200, at.text);
  attachment = at.json.id;
  sessionA = A.session_id;
}

function fill(route) {
  const ids = { aid: attachment, user: A.user.id };
  let p = route.pattern;
  if (p.startsWith('/api/v1/tasks/')) ids.id = task.id;
  else if (p.startsWith('/api/v1/workspaces/')) ids.id = ws;
  else if (p.startsWith('/api/v1/me/sessions/')) ids.id = sessionA;
  else if (p.startsWith('/api/v1/admin/users/')) ids.id = A.user.id;
  else ids.id = task.id; // notifications, suggestions: an id of A's that B must not reach either
  p = p.replace(/\{(\w+)\}/g, (_, k) => ids[k]);
  return p;
}

test('BOLA: user B gets no 2xx on any route with user A\'s ids', async () => {
  await setup();
  const routes = routeTable().filter((r) => r.auth && r.pattern.includes('{'));
  assert.ok(routes.length >= 15, `only ${routes.length} parameterised routes`);
  const bad = [];
  for (const r of routes) {
    const key = `${r.method} ${r.pattern}`;
    const p = fill(r);
    let res;
    if (r.body === 'RAW') {
      res = await api(r.method, p + '?filename=x.txt', { token: B.access_token, raw: 'x', headers: { 'content-type': 'text/plain' } });
    } else if (r.body === 'JSON') {
      const body = { ...(BODIES[key] || {}) };
      if (key === 'POST /api/v1/workspaces/{id}/members') body.user_id = B.user.id;
      res = await api(r.method, p, { token: B.access_token, body });
    } else {
      res = await api(r.method, p, { token: B.access_token });
    }
    if (res.status >= 200 && res.status < 300) bad.push(`${key} -> ${res.status}`);
    else if (r.role === 'U' && res.status !== 404) bad.push(`${key} -> ${res.status} (expected 404: no existence leak)`);
  }
  assert.deepEqual(bad, []);
});

test('BOLA: query and body references to A\'s workspace', async () => {
  if (!A) await setup();
  const bad = [];
  const calls = [
    ['GET', `/api/v1/tasks?workspace_id=${ws}`],
    ['GET', `/api/v1/workspaces/${ws}/changes?since=0`],
    ['POST', '/api/v1/tasks', { workspace_id: ws, title: 'intruder' }],
    ['POST', '/api/v1/ai/suggestions', { workspace_id: ws }],
  ];
  for (const [m, p, body] of calls) {
    const r = await api(m, p, { token: B.access_token, body });
    if (p === '/api/v1/ai/suggestions') {
      // suggestions are built from the caller's own tasks: answering is fine as long as a
      // foreign workspace and a non-existent one look the same (no existence oracle)
      const none = await api(m, p, { token: B.access_token, body: { workspace_id: '00000000-0000-4000-8000-000000000000' } });
      if (none.status !== r.status) bad.push(`${m} ${p}: ${r.status} for A's workspace, ${none.status} for none`);
    } else if (r.status >= 200 && r.status < 300) {
      // a list may answer 200 only if it is empty
      if (!(m === 'GET' && Array.isArray(r.json?.data) && r.json.data.length === 0)) bad.push(`${m} ${p} -> ${r.status}`);
    }
    if (r.text.includes('secret plan')) bad.push(`${m} ${p} leaked A's task title`);
  }
  assert.deepEqual(bad, []);
});

test('BOLA: A\'s data unchanged and A\'s session alive after B\'s attempts', async () => {
  if (!A) await setup();
  const t = await api('GET', `/api/v1/tasks/${task.id}`, { token: A.access_token });
  assert.equal(t.status, 200, `A lost access to its task (session revoked by B?): ${t.text}`);
  assert.equal(t.json.title, 'secret plan');
  assert.equal(t.json.status, 'todo');
  const m = await api('GET', `/api/v1/workspaces/${ws}/members`, { token: A.access_token });
  assert.equal(m.status, 200, m.text);
  const list = m.json.data || m.json;
  assert.ok(!JSON.stringify(list).includes(B.user.id), 'B became a member of A\'s workspace');
});

test('BOLA: WebSocket room of A\'s workspace refused to B', async (t) => {
  if (!A) await setup();
  const sock = new WebSocket(WS_URL, { headers: { authorization: `Bearer ${B.access_token}` }, handshakeTimeout: 3000 });
  const opened = await new Promise((resolve) => {
    sock.once('open', () => resolve(true));
    sock.once('unexpected-response', (_q, res) => resolve(res.statusCode));
    sock.once('error', () => resolve(false));
  });
  if (opened !== true) {
    t.skip(`GET /ws did not upgrade (${opened}): WebSocket not available in this gateway`);
    sock.terminate();
    return;
  }
  const msgs = [];
  let waiting = null;
  sock.on('message', (b) => {
    const m = JSON.parse(b.toString());
    msgs.push(m);
    if (m.op !== 'hello' && waiting) waiting();
  });
  // one op at a time: each gets its own answer
  for (const op of [{ op: 'subscribe', room: `workspace:${ws}` }, { op: 'resume', room: `workspace:${ws}`, since: 0 },
    { op: 'subscribe', room: `task:${task.id}` }]) {
    const answered = new Promise((r) => { waiting = r; setTimeout(r, 3000); });
    sock.send(JSON.stringify(op));
    await answered;
  }
  // something happens in A's room meanwhile: B must not see it
  await api('PATCH', `/api/v1/tasks/${task.id}`, { token: A.access_token, body: { title: 'secret plan' } });
  await new Promise((r) => setTimeout(r, 1000));
  sock.terminate();
  const errors = msgs.filter((m) => m.op === 'error' && m.code === 'forbidden');
  assert.equal(errors.length, 3, JSON.stringify(msgs));
  assert.ok(!msgs.some((m) => m.op === 'subscribed' || m.op === 'event' || m.op === 'recovered'), JSON.stringify(msgs));
});
