// OWASP API8:2023 Security Misconfiguration and API9:2023 Improper Inventory Management:
// CORS does not open the API to any origin with credentials, TRACE is not echoed, error
// bodies are problem+json without internals, and the route table equals the published
// OpenAPI document (GET /api/v1/openapi.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, leaks, newUser, routeTable, BASE_URL } from './helpers.mjs';

test('CORS: an arbitrary origin is not allowed with credentials, nor reflected', async () => {
  const u = await newUser('cors');
  for (const method of ['OPTIONS', 'GET']) {
    const r = await fetch(`${BASE_URL}/api/v1/me`, {
      method,
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization', authorization: `Bearer ${u.access_token}` },
    });
    await r.text();
    const acao = r.headers.get('access-control-allow-origin');
    const acac = r.headers.get('access-control-allow-credentials');
    assert.notEqual(acao, 'https://evil.example', `${method}: origin reflected`);
    assert.ok(!(acao === '*' && acac === 'true'), `${method}: * with credentials`);
    assert.ok(r.status < 500, `${method}: ${r.status}`);
  }
});

function raw(text) {
  const u = new URL(BASE_URL);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname, () => s.write(text));
    let out = '';
    s.on('data', (d) => { out += d; if (out.includes('\r\n\r\n')) setTimeout(() => s.destroy(), 200); });
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    setTimeout(() => { s.destroy(); resolve(out); }, 4000);
  });
}

test('TRACE and TRACK are refused, not echoed', async () => {
  for (const m of ['TRACE', 'TRACK']) {
    const out = await raw(`${m} /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Secret-Probe: tr4ce-me\r\nConnection: close\r\n\r\n`);
    const status = Number(out.slice(9, 12));
    assert.ok(status === 405 || status === 501 || status === 400 || status === 404, `${m}: ${out.slice(0, 60)}`);
    assert.ok(!out.includes('tr4ce-me'), `${m} echoed the request`);
  }
});

test('request smuggling shapes are refused (two Content-Length, CL+TE, no Host)', async () => {
  const cl2 = await raw('POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{}');
  assert.match(cl2.slice(0, 12), /HTTP\/1\.1 400|^$/, `two Content-Length: ${cl2.slice(0, 40)}`);
  const clte = await raw('POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n');
  assert.match(clte.slice(0, 12), /HTTP\/1\.1 400|^$/, `CL+TE: ${clte.slice(0, 40)}`);
  const nohost = await raw('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.match(nohost.slice(0, 12), /HTTP\/1\.1 400|^$/, `no Host: ${nohost.slice(0, 40)}`);
});

test('error bodies: problem+json, no SQL, driver, path or stack trace', async () => {
  const u = await newUser('errs');
  const cases = [
    ['GET', '/nope'], ['DELETE', '/api/v1/workspaces'], ['GET', '/api/v1/tasks/not-a-uuid'],
    ['GET', '/api/v1/tasks/00000000-0000-4000-8000-000000000000'], ['GET', '/api/v1/tasks?limit=x'],
    ['POST', '/api/v1/tasks', '{bad json'], ['POST', '/api/v1/tasks', '{"title":1,"workspace_id":"x"}'],
    ['POST', '/api/v1/workspaces', JSON.stringify({ name: 'x'.repeat(300) })],
    ['GET', '/api/v1/tasks?cursor=%27%22%00'], ['GET', '/api/v1/workspaces/00000000-0000-4000-8000-000000000000/changes?since=-1'],
    ['POST', '/api/v1/auth/login', JSON.stringify({ email: "' OR 1=1--", password: 'x' })],
  ];
  const bad = [];
  for (const [m, p, body] of cases) {
    const r = await api(m, p, { token: u.access_token, raw: body, headers: body ? { 'content-type': 'application/json' } : {} });
    if (r.status >= 500) bad.push(`${m} ${p}: ${r.status}`);
    const ct = r.headers.get('content-type') || '';
    if (r.status >= 400 && !ct.startsWith('application/problem+json')) bad.push(`${m} ${p}: content-type ${ct}`);
    const l = leaks(r.text);
    if (l.length) bad.push(`${m} ${p}: leaks ${l.join(',')} in ${r.text.slice(0, 200)}`);
  }
  assert.deepEqual(bad, []);
});

test('response headers: nosniff, no server version, request id echoed', async () => {
  const r = await fetch(`${BASE_URL}/healthz`, { headers: { 'x-request-id': 'sec-test-1' } });
  await r.text();
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(!/\d+\.\d+/.test(r.headers.get('server') || ''), `server header: ${r.headers.get('server')}`);
  assert.equal(r.headers.get('x-request-id'), 'sec-test-1');
});

test('the route table equals the OpenAPI document', async () => {
  const r = await api('GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200, r.text.slice(0, 200));
  const doc = new Set();
  for (const [p, ops] of Object.entries(r.json.paths || {}))
    for (const m of Object.keys(ops)) if (['get', 'post', 'put', 'patch', 'delete'].includes(m)) doc.add(`${m.toUpperCase()} ${p}`);
  const table = new Set(routeTable().map((x) => `${x.method} ${x.pattern}`));
  const missing = [...table].filter((x) => !doc.has(x));
  const extra = [...doc].filter((x) => !table.has(x));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
});
