// OWASP API8 (injection): SQL injection attempts on every query parameter of the list and
// change-feed routes. Each answers 200 (treated as data) or 400 (refused), never 5xx; a
// time-based payload does not delay the answer; no other user's rows come back; error
// bodies carry no SQL/driver internals. tests/security/sqlmap.sh runs sqlmap as well.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, leaks, newUser, uniq } from './helpers.mjs';

const PARAMS = ['workspace_id', 'status', 'priority', 'assignee', 'label', 'due_before', 'due_after', 'q', 'sort', 'limit', 'cursor'];
const PAYLOADS = [
  "' OR '1'='1", "1' OR 1=1--", "\" OR \"\"=\"", "1; DROP TABLE tasks;--", "1);SELECT pg_sleep(3)--",
  "' || pg_sleep(3) || '", "1 AND (SELECT 1 FROM pg_sleep(3))", "') UNION SELECT * FROM task.users--",
  "%27%20OR%201%3D1", "\\'; --", "$$; SELECT 1; $$", "title; DELETE FROM task.tasks", "-created_at,(SELECT 1)",
];

test('SQL injection on every GET /api/v1/tasks filter', async () => {
  const victim = await newUser('sqli-victim');
  const vw = await api('POST', '/api/v1/workspaces', { token: victim.access_token, body: { name: `v-${uniq()}` } });
  await api('POST', '/api/v1/tasks', { token: victim.access_token, body: { workspace_id: vw.json.id, title: 'victim-only-row' } });
  const u = await newUser('sqli');
  const w = await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: `s-${uniq()}` } });
  const ws = w.json.id;
  const bad = [];
  for (const p of PARAMS) {
    for (const pl of PAYLOADS) {
      const qs = new URLSearchParams(p === 'workspace_id' ? { [p]: pl } : { workspace_id: ws, [p]: pl });
      const t0 = Date.now();
      const r = await api('GET', `/api/v1/tasks?${qs}`, { token: u.access_token });
      const ms = Date.now() - t0;
      const tag = `${p}=${pl}`;
      if (r.status >= 500) bad.push(`${tag}: ${r.status}`);
      if (r.status !== 200 && r.status !== 400) bad.push(`${tag}: unexpected ${r.status}`);
      if (ms > 2500) bad.push(`${tag}: took ${ms} ms (time-based injection?)`);
      if (r.text.includes('victim-only-row')) bad.push(`${tag}: returned another user's row`);
      const l = leaks(r.text);
      if (l.length) bad.push(`${tag}: error body leaks ${l.join(',')}`);
    }
  }
  assert.deepEqual(bad, []);
  const still = await api('GET', `/api/v1/tasks?workspace_id=${vw.json.id}`, { token: victim.access_token });
  assert.equal(still.status, 200);
  assert.equal(still.json.data.length, 1, 'the victim\'s task is gone');
});

test('SQL injection on changes?since= and path ids', async () => {
  const u = await newUser('sqli-path');
  const w = await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: `p-${uniq()}` } });
  const bad = [];
  for (const pl of PAYLOADS) {
    const r = await api('GET', `/api/v1/workspaces/${w.json.id}/changes?since=${encodeURIComponent(pl)}`, { token: u.access_token });
    if (r.status !== 400) bad.push(`since=${pl}: ${r.status}`);
    const id = await api('GET', `/api/v1/tasks/${encodeURIComponent(pl)}`, { token: u.access_token });
    if (id.status !== 404 && id.status !== 400) bad.push(`tasks/${pl}: ${id.status}`);
    for (const x of [r, id]) if (leaks(x.text).length) bad.push(`${pl}: leak ${leaks(x.text)}`);
  }
  assert.deepEqual(bad, []);
});
