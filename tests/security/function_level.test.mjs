// OWASP API5:2023 Broken Function Level Authorization: every route of the route table
// (services/gateway/routes.c) that needs moderator (M) or admin (A) is refused to a plain
// user (403, never 2xx) and to an anonymous caller (401); admin-only routes are refused to a
// moderator; the right role is let through (not 401/403), so the test can tell the two apart.
// Also: a plain user cannot raise their own role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, newUser, routeTable, userWithRole } from './helpers.mjs';

const BODIES = {
  'POST /api/v1/admin/announcements': { message: 'security test', level: 'info' },
  'PATCH /api/v1/admin/users/{id}': { disabled: false },
};

test('admin and moderator routes: role matrix', async () => {
  const routes = routeTable().filter((r) => r.role !== 'U');
  assert.ok(routes.length >= 3, `only ${routes.length} privileged routes in routes.c`);
  const user = await newUser('fla-user');
  const mod = await userWithRole('moderator');
  const admin = await userWithRole('admin');
  const call = (r, token) => api(r.method, r.pattern.replace('{id}', user.user.id), {
    token, body: r.body === 'JSON' ? BODIES[`${r.method} ${r.pattern}`] || {} : undefined });
  const bad = [];
  for (const r of routes) {
    const key = `${r.method} ${r.pattern} (${r.role})`;
    const anon = await call(r, undefined);
    if (anon.status !== 401) bad.push(`${key} anonymous -> ${anon.status}`);
    const u = await call(r, user.access_token);
    if (u.status !== 403 && u.status !== 404) bad.push(`${key} user -> ${u.status}`);
    const m = await call(r, mod.access_token);
    if (r.role === 'A' && m.status !== 403 && m.status !== 404) bad.push(`${key} moderator -> ${m.status}`);
    if (r.role === 'M' && (m.status === 401 || m.status === 403)) bad.push(`${key} moderator refused: ${m.status}`);
    const a = await call(r, admin.access_token);
    if (a.status === 401 || a.status === 403) bad.push(`${key} admin refused: ${a.status}`);
  }
  assert.deepEqual(bad, []);
});

test('a plain user cannot promote themselves or read the user list', async () => {
  const u = await newUser('fla-self');
  const p = await api('PATCH', `/api/v1/admin/users/${u.user.id}`, { token: u.access_token, body: { role: 'admin' } });
  assert.ok(p.status === 403 || p.status === 404, p.text);
  const me = await api('GET', '/api/v1/me', { token: u.access_token });
  assert.equal(me.json.role, 'user');
  const list = await api('GET', '/api/v1/admin/users', { token: u.access_token });
  assert.ok(list.status === 403 || list.status === 404, list.text);
});
