// Identity through the gateway: register, login on two devices, refresh rotation and
// reuse detection, logout, the session list and revocation, admin-only routes.
// Admin: `tm-task promote` (TM_TEST_TASK_BIN, default build/services/task/tm-task) against
// the stack's database (TM_TEST_TASK_PG_URL: the conninfo the stack's tm-task uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { api, expectStatus, registerAndLogin, uniq, PASSWORD } from './lib/client.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TASK_BIN = process.env.TM_TEST_TASK_BIN || path.join(ROOT, 'build/services/task/tm-task');

function promote(email, role) {
  const pg = process.env.TM_TEST_TASK_PG_URL;
  assert.ok(pg, 'TM_TEST_TASK_PG_URL must be set (the conninfo of the stack\'s tm-task)');
  execFileSync(TASK_BIN, ['promote', email, role], { env: { ...process.env, TM_PG_URL: pg }, stdio: 'pipe' });
}

async function login(email, device, password = PASSWORD) {
  return api('POST', '/api/v1/auth/login', { body: { email, password, device } });
}

function decodeJwtPart(token, i) {
  return JSON.parse(Buffer.from(token.split('.')[i], 'base64url').toString('utf8'));
}

test('register: 201 user, duplicate (any case) 409, weak password 400, unknown field 400', async () => {
  const email = `reg-${uniq()}@test.local`;
  const reg = await api('POST', '/api/v1/auth/register', {
    body: { email: `  ${email.toUpperCase()} `, password: PASSWORD, display_name: 'Reg' },
  });
  expectStatus(reg, 201, 'register');
  assert.equal(reg.json.email, email);
  assert.equal(reg.json.role, 'user');
  assert.match(reg.json.id, /^[0-9a-f-]{36}$/);
  assert.equal(reg.json.password_hash, undefined);
  assert.equal(reg.json.password, undefined);

  const dup = await api('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: 'D' } });
  assert.equal(dup.status, 409, dup.text);

  const weak = await api('POST', '/api/v1/auth/register', {
    body: { email: `weak-${uniq()}@test.local`, password: 'password123', display_name: 'W' },
  });
  assert.equal(weak.status, 400, weak.text);
  assert.ok(weak.json.errors.some((e) => e.field === 'password'), weak.text);
  assert.ok(!weak.text.includes('password123'), 'the password must not be echoed');

  const short = await api('POST', '/api/v1/auth/register', {
    body: { email: `short-${uniq()}@test.local`, password: 'abc12', display_name: 'S' },
  });
  assert.equal(short.status, 400, short.text);

  const extra = await api('POST', '/api/v1/auth/register', {
    body: { email: `x-${uniq()}@test.local`, password: PASSWORD, display_name: 'X', role: 'admin' },
  });
  assert.equal(extra.status, 400, extra.text);
  assert.ok(extra.json.errors.some((e) => e.field === 'role'), extra.text);
});

test('login: tokens and claims; wrong password and unknown email give the same 401', async () => {
  const me = await registerAndLogin('login');
  const tok = me.access_token;
  const head = decodeJwtPart(tok, 0);
  const claims = decodeJwtPart(tok, 1);
  assert.equal(head.typ, 'at+jwt');
  assert.equal(claims.sub, me.user.id);
  assert.equal(claims.sid, me.session_id);
  assert.equal(claims.role, 'user');
  assert.equal(claims.exp - claims.iat > 0, true);
  assert.equal(claims.nbf, claims.iat);
  assert.equal(me.refresh_token.length, 43);

  const wrong = await login(me.email, 'x', 'not-the-password-1');
  const unknown = await login(`nobody-${uniq()}@test.local`, 'x', 'not-the-password-1');
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  assert.equal(wrong.json.detail, unknown.json.detail);
  assert.equal(wrong.json.type, unknown.json.type);

  const meRes = expectStatus(await api('GET', '/api/v1/me', { token: tok }), 200, 'me');
  assert.equal(meRes.json.id, me.user.id);
  assert.equal(meRes.json.email, me.email);
});

test('two devices, sessions list, refresh rotation, reuse revokes, logout', async () => {
  const a = await registerAndLogin('dev');
  const b = expectStatus(await login(a.email, 'phone'), 200, 'second login').json;
  assert.notEqual(a.session_id, b.session_id);

  const list = expectStatus(await api('GET', '/api/v1/me/sessions', { token: a.access_token }), 200, 'sessions');
  assert.equal(list.json.data.length, 2);
  const cur = list.json.data.filter((s) => s.current);
  assert.equal(cur.length, 1);
  assert.equal(cur[0].id, a.session_id);
  assert.ok(list.json.data.some((s) => s.device === 'phone'));

  const r1 = expectStatus(await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: a.refresh_token } }), 200, 'refresh');
  assert.equal(r1.json.session_id, a.session_id);
  assert.notEqual(r1.json.refresh_token, a.refresh_token);
  assert.equal(r1.json.token_type, 'Bearer');
  // the new access token works
  expectStatus(await api('GET', '/api/v1/me', { token: r1.json.access_token }), 200, 'me after refresh');

  // reuse of the rotated token: 401 and the whole session dies (the new token too)
  const reuse = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: a.refresh_token } });
  assert.equal(reuse.status, 401, reuse.text);
  const after = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: r1.json.refresh_token } });
  assert.equal(after.status, 401, after.text);

  // logout of the phone session
  const out = await api('POST', '/api/v1/auth/logout', { token: b.access_token });
  assert.equal(out.status, 204, out.text);
  const dead = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: b.refresh_token } });
  assert.equal(dead.status, 401, dead.text);
});

test('revoke a session: 204 for mine, 404 for another user\'s', async () => {
  const a = await registerAndLogin('rev');
  const other = await registerAndLogin('rev-other');
  const a2 = expectStatus(await login(a.email, 'tablet'), 200, 'login 2').json;
  const foreign = await api('DELETE', `/api/v1/me/sessions/${a2.session_id}`, { token: other.access_token });
  assert.equal(foreign.status, 404, foreign.text);
  const mine = await api('DELETE', `/api/v1/me/sessions/${a2.session_id}`, { token: a.access_token });
  assert.equal(mine.status, 204, mine.text);
  const list = expectStatus(await api('GET', '/api/v1/me/sessions', { token: a.access_token }), 200, 'sessions');
  assert.ok(!list.json.data.some((s) => s.id === a2.session_id));
  const dead = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: a2.refresh_token } });
  assert.equal(dead.status, 401);
});

test('admin routes: 403 for a user, 200 for an admin; last admin rule', async () => {
  const u = await registerAndLogin('plain');
  const denied = await api('GET', '/api/v1/admin/users', { token: u.access_token });
  assert.equal(denied.status, 403, denied.text);
  const denied2 = await api('PATCH', `/api/v1/admin/users/${u.user.id}`, { token: u.access_token, body: { role: 'admin' } });
  assert.equal(denied2.status, 403, denied2.text);

  const adm = await registerAndLogin('admin');
  promote(adm.email, 'admin');
  const tokens = expectStatus(await login(adm.email, 'admin-box'), 200, 'admin login').json;
  assert.equal(tokens.user.role, 'admin');
  const list = expectStatus(await api('GET', '/api/v1/admin/users?limit=2', { token: tokens.access_token }), 200, 'admin users');
  assert.ok(list.json.data.length <= 2 && list.json.data.length > 0);
  assert.ok('next_cursor' in list.json);

  const upd = expectStatus(await api('PATCH', `/api/v1/admin/users/${u.user.id}`, {
    token: tokens.access_token, body: { role: 'moderator' },
  }), 200, 'update');
  assert.equal(upd.json.role, 'moderator');
  const bad = await api('PATCH', `/api/v1/admin/users/${u.user.id}`, { token: tokens.access_token, body: { email: 'x@y.z' } });
  assert.equal(bad.status, 400, bad.text);
  // the role change ended u's sessions: the refresh token is dead
  const dead = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: u.refresh_token } });
  assert.equal(dead.status, 401, dead.text);
  promote(adm.email, 'user'); // leave the shared stack without a stray admin
});
