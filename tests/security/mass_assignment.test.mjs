// OWASP API3:2023 Broken Object Property Level Authorization (mass assignment, excessive data
// exposure): server-owned or privileged fields in a body are refused with 400 naming the
// field, and answers never carry password hashes or other users' secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, newUser, uniq, PASSWORD } from './helpers.mjs';

function refused(r, field) {
  assert.equal(r.status, 400, r.text);
  assert.ok(Array.isArray(r.json?.errors) && r.json.errors.some((e) => e.field === field), `${field} not named: ${r.text}`);
}

test('register/workspace/member bodies refuse privileged fields', async () => {
  const email = `mass-${uniq()}@test.local`;
  refused(await api('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: 'M', role: 'admin' } }), 'role');
  refused(await api('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: 'M', id: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b' } }), 'id');
  refused(await api('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: 'M', disabled: false } }), 'disabled');
  const u = await newUser('mass');
  refused(await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: 'w', owner_id: u.user.id } }), 'owner_id');
  refused(await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: 'w', role: 'owner' } }), 'role');
  const w = await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: `w-${uniq()}` } });
  assert.equal(w.status, 201, w.text);
  refused(await api('POST', `/api/v1/workspaces/${w.json.id}/members`, { token: u.access_token, body: { user_id: u.user.id, role: 'owner', is_admin: true } }), 'is_admin');
});

test('task bodies refuse server-owned fields (id, version, created_by, workspace_id on update)', async () => {
  const u = await newUser('mass-task');
  const w = await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: `w-${uniq()}` } });
  const ws = w.json.id;
  const base = { workspace_id: ws, title: 't' };
  refused(await api('POST', '/api/v1/tasks', { token: u.access_token, body: { ...base, id: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b' } }), 'id');
  refused(await api('POST', '/api/v1/tasks', { token: u.access_token, body: { ...base, version: 99 } }), 'version');
  refused(await api('POST', '/api/v1/tasks', { token: u.access_token, body: { ...base, created_by: u.user.id } }), 'created_by');
  refused(await api('POST', '/api/v1/tasks', { token: u.access_token, body: { ...base, completed_at: '2026-01-01T00:00:00Z' } }), 'completed_at');
  refused(await api('POST', '/api/v1/tasks', { token: u.access_token, body: { ...base, owner: 'x' } }), 'owner');
  const t = await api('POST', '/api/v1/tasks', { token: u.access_token, body: base });
  assert.equal(t.status, 201, t.text);
  const other = await api('POST', '/api/v1/workspaces', { token: u.access_token, body: { name: `o-${uniq()}` } });
  refused(await api('PATCH', `/api/v1/tasks/${t.json.id}`, { token: u.access_token, body: { workspace_id: other.json.id } }), 'workspace_id');
  refused(await api('PATCH', `/api/v1/tasks/${t.json.id}`, { token: u.access_token, body: { version: 1000 } }), 'version');
  const after = await api('GET', `/api/v1/tasks/${t.json.id}`, { token: u.access_token });
  assert.equal(after.json.workspace_id, ws);
  assert.equal(after.json.version, t.json.version);
});

test('no password hash or secret in user answers', async () => {
  const u = await newUser('mass-exposure');
  for (const p of ['/api/v1/me', '/api/v1/me/sessions']) {
    const r = await api('GET', p, { token: u.access_token });
    assert.equal(r.status, 200, r.text);
    assert.ok(!/password|argon2|\$argon|refresh_token|token_hash/i.test(r.text), `${p}: ${r.text.slice(0, 300)}`);
  }
});
