// tm-gateway's own HTTP behaviour on the running test stack (TM_TEST_GATEWAY_URL): route
// table 404/405, TRACE, problem bodies with the request id, bearer auth errors, X-Request-Id,
// body limits, openapi.json, HTTP/2 prior knowledge. Needs no particular service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BASE_URL, api } from './lib/client.mjs';

function assertProblem(res, status) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  assert.equal(res.json.status, status);
  assert.equal(res.json.instance, res.headers.get('x-request-id'));
}

test('healthz and readyz answer from the gateway', async () => {
  const h = await api('GET', '/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok' });
  assert.equal((await api('GET', '/readyz')).status, 200);
});

test('unknown path 404, known path with another method 405 with Allow, TRACE 405', async () => {
  assertProblem(await api('GET', '/api/v1/does-not-exist'), 404);
  assertProblem(await api('GET', `/api/v1/tasks/${'a'.repeat(65)}`), 404);
  const res = await api('DELETE', '/api/v1/workspaces');
  assertProblem(res, 405);
  assert.equal(res.headers.get('allow'), 'GET, POST');
  const trace = spawnSync('curl', ['-s', '-X', 'TRACE', '-o', '/dev/null', '-w', '%{http_code}', `${BASE_URL}/api/v1/me`], { encoding: 'utf8' });
  assert.equal(trace.stdout, '405');
});

test('protected routes: 401 problem with WWW-Authenticate for missing and forged tokens', async () => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const forged = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ sub: '00000000-0000-4000-8000-000000000000', role: 'admin' })}.`;
  for (const token of [undefined, forged, 'not-a-jwt', `${forged}x.y`]) {
    const res = await api('GET', '/api/v1/me', { token });
    assertProblem(res, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  }
});

test('X-Request-Id: a valid one is echoed, an invalid one replaced', async () => {
  const ok = await api('GET', '/healthz', { headers: { 'x-request-id': 'e2e-req_42' } });
  assert.equal(ok.headers.get('x-request-id'), 'e2e-req_42');
  const bad = await api('GET', '/healthz', { headers: { 'x-request-id': 'x'.repeat(65) } });
  assert.match(bad.headers.get('x-request-id'), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

test('JSON routes: 415 without application/json, 413 over 64 KiB', async () => {
  assertProblem(await api('POST', '/api/v1/auth/login', { raw: '{}', headers: { 'content-type': 'text/plain' } }), 415);
  assertProblem(await api('POST', '/api/v1/auth/login', { body: { pad: 'x'.repeat(70 * 1024) } }), 413);
});

test('openapi.json is generated from the route table', async () => {
  const res = await api('GET', '/api/v1/openapi.json');
  assert.equal(res.status, 200);
  assert.equal(res.json.openapi, '3.0.3');
  const p = res.json.paths;
  for (const [route, method] of [['/api/v1/auth/login', 'post'], ['/api/v1/tasks/{id}', 'put'],
    ['/api/v1/workspaces/{id}/members/{user}', 'delete'], ['/api/v1/notifications/read-all', 'post'],
    ['/api/v1/admin/users/{id}', 'patch'], ['/api/v1/ai/parse', 'post'], ['/api/v1/health', 'get']]) {
    assert.ok(p[route]?.[method], `${method} ${route}`);
  }
  assert.deepEqual(p['/api/v1/auth/login'].post.security, []);
  assert.equal(p['/api/v1/admin/announcements'].post['x-min-role'], 'admin');
});

test('HTTP/2 with prior knowledge works (curl)', () => {
  const out = spawnSync('curl', ['-s', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}',
    `${BASE_URL}/healthz`], { encoding: 'utf8' });
  assert.equal(out.stdout, '2 200', out.stderr);
});
