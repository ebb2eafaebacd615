// tm-gateway against a real nats-server and the tm-test-responder tool (no other service):
// forwarding headers, 503 without responders, 504 on a slow service, auth and roles,
// revocation, limits, CORS, HTTP/2 prior knowledge, 1,000 requests dropped by their
// clients, /api/v1/health and SIGTERM draining. Starts its own nats-server and gateway on
// free ports below 32768. Binaries: TM_TEST_GATEWAY_BIN / TM_TEST_RESPONDER_BIN, else the
// newest build*/services/gateway/ in the repository. Skips when they are missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const USER_ID = randomUUID();
const ADMIN_ID = randomUUID();

function findBinary(envName, name) {
  if (process.env[envName]) return process.env[envName];
  const candidates = fs.readdirSync(ROOT)
    .filter((d) => d.startsWith('build'))
    .map((d) => path.join(ROOT, d, 'services/gateway', name))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0];
}

const GATEWAY_BIN = findBinary('TM_TEST_GATEWAY_BIN', 'tm-gateway');
const RESPONDER_BIN = findBinary('TM_TEST_RESPONDER_BIN', 'tm-test-responder');
const HAVE_NATS = spawnSync('nats-server', ['--version']).status === 0;
const SKIP = !GATEWAY_BIN || !RESPONDER_BIN || !HAVE_NATS ? 'tm-gateway, tm-test-responder or nats-server not found' : false;

async function freePort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

async function waitFor(fn, what, ms = 10000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const state = { procs: [], dir: null, gw: null, gwErr: '' };

function start(cmd, args, env = {}) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.out = '';
  p.err = '';
  p.stdout.on('data', (d) => { p.out += d; });
  p.stderr.on('data', (d) => { p.err += d; });
  p.exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve({ code, sig })));
  state.procs.push(p);
  return p;
}

async function responder(subject, ...args) {
  const p = start(RESPONDER_BIN, [state.natsUrl, subject, ...args]);
  await waitFor(() => p.out.includes('ready'), `responder ${subject}`);
  return p;
}

async function stopProc(p) {
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  return p.exited;
}

function b64(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

function token(claims = {}, header = { alg: 'ES256', typ: 'at+jwt' }, key = state.privateKey) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iss: 'taskmesh', aud: 'taskmesh-api', sub: USER_ID, role: 'user', sid: randomUUID(),
    iat: now, nbf: now, exp: now + 600, jti: randomUUID(), ...claims };
  const input = `${b64(header)}.${b64(body)}`;
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${input}.${sig}`;
}

async function call(method, p, { tok, body, headers = {}, signal } = {}) {
  const h = { ...headers };
  if (tok) h.authorization = `Bearer ${tok}`;
  if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    h['content-type'] ??= 'application/json';
    body = JSON.stringify(body);
  }
  const res = await fetch(state.base + p, { method, headers: h, body, signal: signal ?? AbortSignal.timeout(15000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

function assertProblem(res, status) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  assert.equal(res.json.status, status);
  assert.equal(res.json.instance, res.headers.get('x-request-id'));
}

before(async () => {
  if (SKIP) return;
  state.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-gw-e2e-'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  state.privateKey = privateKey;
  state.otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  fs.writeFileSync(path.join(state.dir, 'jwt.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const natsPort = await freePort();
  state.natsUrl = `nats://127.0.0.1:${natsPort}`;
  state.natsPort = natsPort;
  state.nats = start('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort)]);
  await waitFor(() => new Promise((resolve) => {
    const s = net.connect(natsPort, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  }), 'nats-server');
  state.port = await freePort();
  state.adminPort = await freePort();
  state.base = `http://127.0.0.1:${state.port}`;
  state.gw = start(GATEWAY_BIN, [], {
    TM_HTTP_HOST: '127.0.0.1', TM_HTTP_PORT: String(state.port), TM_ADMIN_PORT: String(state.adminPort),
    TM_NATS_URL: state.natsUrl, TM_JWT_PUBLIC_KEY_FILE: path.join(state.dir, 'jwt.pub'),
    TM_GATEWAY_THREADS: '2', TM_REQUEST_TIMEOUT: '1s', TM_CORS_ORIGINS: 'https://app.example',
    TM_DRAIN_TIMEOUT: '5s', TM_LOG_LEVEL: 'warn',
  });
  await waitFor(async () => (await fetch(`${state.base}/readyz`)).status === 200, 'gateway ready');
});

after(async () => {
  for (const p of state.procs.reverse()) await stopProc(p);
  if (state.dir) fs.rmSync(state.dir, { recursive: true, force: true });
});

test('a route whose subject has no service answers 503 problem', { skip: SKIP }, async () => {
  const res = await call('GET', '/api/v1/ai/insights', { tok: token() });
  assertProblem(res, 503);
});

test('a service slower than TM_REQUEST_TIMEOUT gives 504 problem', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.task.list', '--silent');
  const t0 = Date.now();
  const res = await call('GET', '/api/v1/tasks', { tok: token() });
  const ms = Date.now() - t0;
  assertProblem(res, 504);
  assert.ok(ms >= 900 && ms < 3000, `504 after ${ms} ms`);
  await stopProc(r);
});

test('forwarding: body, path params, query, identity, conditional headers', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.task.update', '--etag', '"v7"', '--header', 'Location=/api/v1/tasks/x');
  const sid = randomUUID();
  const res = await call('PATCH', '/api/v1/tasks/t-1?a=1&b=%20x', {
    tok: token({ sid }),
    body: '{"title":"x"}',
    headers: { 'content-type': 'application/json', 'if-match': '"v6"', 'idempotency-key': 'key-1',
      'x-request-id': 'req-abc_1' },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('etag'), '"v7"');
  assert.equal(res.headers.get('location'), '/api/v1/tasks/x');
  assert.equal(res.headers.get('x-request-id'), 'req-abc_1');
  const h = res.json.headers;
  assert.equal(res.json.subject, 'tm.v1.task.update');
  assert.equal(res.json.body, '{"title":"x"}');
  assert.equal(h['Tm-Param-id'], 't-1');
  assert.equal(h['Tm-Query'], 'a=1&b=%20x');
  assert.equal(h['Tm-User-Id'], USER_ID);
  assert.equal(h['Tm-User-Role'], 'user');
  assert.equal(h['Tm-Session-Id'], sid);
  assert.equal(h['Tm-Request-Id'], 'req-abc_1');
  assert.equal(h['If-Match'], '"v6"');
  assert.equal(h['Idempotency-Key'], 'key-1');
  assert.equal(h['Tm-Client-Ip'], '127.0.0.1');
  const deadline = Number(h['Tm-Deadline']);
  assert.ok(deadline > Date.now() && deadline <= Date.now() + 1100, `deadline ${deadline}`);
  // an invalid X-Request-Id is replaced by a generated one
  const res2 = await call('PATCH', '/api/v1/tasks/t-1', { tok: token(), body: {}, headers: { 'x-request-id': 'bad id!' } });
  assert.match(res2.headers.get('x-request-id'), /^[0-9a-f-]{36}$/);
  assert.equal(res2.json.headers['Tm-Request-Id'], res2.headers.get('x-request-id'));
  await stopProc(r);
});

test('GET with a matching If-None-Match answers 304', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.task.get', '--etag', '"v3"');
  const tok = token();
  assert.equal((await call('GET', '/api/v1/tasks/t1', { tok, headers: { 'if-none-match': '"v3"' } })).status, 304);
  const full = await call('GET', '/api/v1/tasks/t1', { tok, headers: { 'if-none-match': '"v2"' } });
  assert.equal(full.status, 200);
  assert.equal(full.json.headers['If-None-Match'], '"v2"');
  await stopProc(r);
});

test('tokens: missing, forged, expired, wrong key -> 401; role below minimum -> 403', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.rt.announce');
  const cases = {
    missing: undefined,
    none: `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ sub: USER_ID, role: 'admin' })}.`,
    expired: token({ exp: Math.floor(Date.now() / 1000) - 120 }),
    wrongKey: token({}, undefined, state.otherKey),
    typJwt: token({}, { alg: 'ES256', typ: 'JWT' }),
    opaque: randomUUID().replace(/-/g, '') + 'abcdefghijk',
  };
  for (const [name, tok] of Object.entries(cases)) {
    const res = await call('POST', '/api/v1/admin/announcements', { tok, body: { text: 'hi' } });
    assertProblem(res, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"', name);
  }
  assertProblem(await call('POST', '/api/v1/admin/announcements', { tok: token(), body: { text: 'hi' } }), 403);
  const ok = await call('POST', '/api/v1/admin/announcements', { tok: token({ role: 'admin', sub: ADMIN_ID }), body: { text: 'hi' } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.headers['Tm-User-Role'], 'admin');
  await stopProc(r);
});

test('a revoked session is refused even with a cached token', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.auth.me');
  const sid = randomUUID();
  const tok = token({ sid });
  // several calls so that both loop threads have the token in their cache
  for (let i = 0; i < 4; i++) assert.equal((await call('GET', '/api/v1/me', { tok })).status, 200);
  const pub = spawnSync(RESPONDER_BIN, [state.natsUrl, 'tm.v1.auth.revoked', '--publish',
    JSON.stringify({ sid, exp: Math.floor(Date.now() / 1000) + 600 })]);
  assert.equal(pub.status, 0, String(pub.stderr));
  await waitFor(async () => (await call('GET', '/api/v1/me', { tok })).status === 401, 'revocation applied', 3000);
  for (let i = 0; i < 4; i++) assertProblem(await call('GET', '/api/v1/me', { tok }), 401);
  assert.equal((await call('GET', '/api/v1/me', { tok: token() })).status, 200);
  await stopProc(r);
});

test('limits: body size 413, Content-Type 415, Idempotency-Key 400, 404 and 405', { skip: SKIP }, async () => {
  const tok = token();
  assertProblem(await call('POST', '/api/v1/tasks', { tok, body: JSON.stringify({ t: 'x'.repeat(70 * 1024) }), headers: { 'content-type': 'application/json' } }), 413);
  assertProblem(await call('POST', '/api/v1/tasks', { tok, body: '{}', headers: { 'content-type': 'text/plain' } }), 415);
  assertProblem(await call('POST', '/api/v1/tasks', { tok, body: {}, headers: { 'idempotency-key': 'k'.repeat(129) } }), 400);
  assertProblem(await call('GET', '/api/v1/nope', { tok }), 404);
  const res = await call('POST', '/api/v1/tasks/abc', { tok, body: {} });
  assertProblem(res, 405);
  assert.equal(res.headers.get('allow'), 'GET, PATCH, PUT, DELETE');
  const trace = spawnSync('curl', ['-s', '-X', 'TRACE', '-o', '/dev/null', '-w', '%{http_code}', `${state.base}/api/v1/tasks`], { encoding: 'utf8' });
  assert.equal(trace.stdout, '405');
});

test('CORS: only configured origins are echoed; preflight answered', { skip: SKIP }, async () => {
  const pre = await call('OPTIONS', '/api/v1/tasks', { headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.match(pre.headers.get('vary'), /Origin/);
  const evil = await call('GET', '/healthz', { headers: { origin: 'https://evil.example' } });
  assert.equal(evil.status, 200);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
});

test('HTTP/2 with prior knowledge (curl) reaches a service', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.workspace.list');
  const out = spawnSync('curl', ['-s', '--http2-prior-knowledge', '-o', '-', '-w', '\n%{http_version} %{http_code}',
    '-H', `authorization: Bearer ${token()}`, `${state.base}/api/v1/workspaces`], { encoding: 'utf8' });
  const lines = out.stdout.trim().split('\n');
  assert.equal(lines.at(-1), '2 200', out.stdout + out.stderr);
  assert.equal(JSON.parse(lines[0]).subject, 'tm.v1.workspace.list');
  await stopProc(r);
});

test('1,000 requests dropped by their clients leave the gateway serving', { skip: SKIP }, async () => {
  const silent = await responder('tm.v1.task.time.list', '--silent');
  const echo = await responder('tm.v1.task.time.log');
  const tok = token();
  const ctrl = new AbortController();
  const pending = [];
  for (let i = 0; i < 1000; i++) {
    pending.push(fetch(`${state.base}/api/v1/tasks/t${i}/time-entries`, { headers: { authorization: `Bearer ${tok}` }, signal: ctrl.signal }).catch(() => 'aborted'));
  }
  await new Promise((r) => setTimeout(r, 300));
  ctrl.abort();
  const results = await Promise.all(pending);
  assert.ok(results.filter((x) => x === 'aborted').length > 900);
  // HTTP/2 streams reset by the client (curl gives up after 200 ms)
  const urls = Array.from({ length: 200 }, (_, i) => `${state.base}/api/v1/tasks/h${i}/time-entries`);
  spawnSync('curl', ['-s', '-Z', '--parallel-max', '100', '--http2-prior-knowledge', '-m', '0.2', '-o', '/dev/null',
    '-H', `authorization: Bearer ${tok}`, ...urls]);
  assert.equal((await call('GET', '/healthz')).status, 200);
  const ok = await call('POST', '/api/v1/tasks/t1/time-entries', { tok, body: { minutes: 5 } });
  assert.equal(ok.status, 200, ok.text);
  // every abandoned entry ends at its deadline and the in-flight gauge returns to 0
  await waitFor(async () => {
    const m = await (await fetch(`http://127.0.0.1:${state.adminPort}/metrics`)).text();
    return /^tm_http_inflight 0$/m.test(m);
  }, 'in-flight back to 0', 5000);
  assert.equal(state.gw.exitCode, null, state.gw.err);
  await stopProc(silent);
  await stopProc(echo);
});

test('/api/v1/health reports each service and 503 unless all are up', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.task.health');
  const res = await call('GET', '/api/v1/health');
  assert.equal(res.status, 503, res.text);
  assert.equal(res.json.services.task.up, true);
  assert.equal(res.json.services.realtime.up, false);
  assert.equal(res.json.services.ai.up, false);
  assert.equal(res.json.services.gateway.up, true);
  const r2 = await responder('tm.v1.rt.health');
  const r3 = await responder('tm.v1.ai.health');
  const all = await call('GET', '/api/v1/health');
  assert.equal(all.status, 200, all.text);
  assert.equal(all.json.status, 'ok');
  // One service stops: reported down within 5 s (each health call has a 1 s deadline).
  await stopProc(r2);
  const t0 = Date.now();
  let down;
  while (Date.now() - t0 < 5000) {
    down = await call('GET', '/api/v1/health');
    if (down.status === 503) break;
  }
  assert.equal(down.status, 503, down.text);
  assert.equal(down.json.services.realtime.up, false);
  assert.equal(down.json.services.task.up, true);
  assert.ok(Date.now() - t0 <= 5000);
  for (const p of [r, r3]) await stopProc(p);
});

test('openapi.json lists the routes', { skip: SKIP }, async () => {
  const res = await call('GET', '/api/v1/openapi.json');
  assert.equal(res.status, 200);
  assert.ok(res.json.paths['/api/v1/tasks/{id}/attachments/{aid}'].get);
  assert.deepEqual(res.json.paths['/api/v1/me'].get.security, [{ bearerAuth: [] }]);
});

// Each loop thread drives its own NATS connection (services/gateway/natsloop.c); after
// nats-server dies and comes back, every one of them must reconnect, resubscribe its reply
// inbox and serve again, and the gateway must not be ready while they are down.
test('nats-server killed and restarted: every loop reconnects and serves again', { skip: SKIP, timeout: 30000 }, async () => {
  const tok = token();
  state.nats.kill('SIGKILL');
  await state.nats.exited;
  await waitFor(async () => (await fetch(`http://127.0.0.1:${state.adminPort}/readyz`)).status === 503,
    'readyz 503 while NATS is down', 5000);
  const down = await call('POST', '/api/v1/ai/parse', { tok, body: { text: 'x' } });
  assertProblem(down, 503);
  state.nats = start('nats-server', ['-a', '127.0.0.1', '-p', String(state.natsPort)]);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${state.adminPort}/readyz`)).status === 200,
    'readyz 200 after NATS is back', 10000);
  const r = await responder('tm.v1.ai.parse');
  // a fresh connection per request: SO_REUSEPORT spreads them over both loop threads
  const statuses = [];
  for (let i = 0; i < 40; i++) {
    const res = await fetch(`${state.base}/api/v1/ai/parse`, {
      method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', connection: 'close' },
      body: '{"text":"x"}', signal: AbortSignal.timeout(5000),
    });
    await res.text();
    statuses.push(res.status);
  }
  assert.deepEqual([...new Set(statuses)], [200], `statuses ${statuses}`);
  assert.equal(state.gw.exitCode, null, state.gw.err);
  await stopProc(r);
});

test('SIGTERM: readyz 503, in-flight requests finish, exit 0', { skip: SKIP }, async () => {
  const r = await responder('tm.v1.ai.parse', '--delay-ms', '700');
  const inflight = call('POST', '/api/v1/ai/parse', { tok: token(), body: { text: 'x' } });
  await new Promise((res) => setTimeout(res, 150));
  state.gw.kill('SIGTERM');
  await waitFor(async () => (await fetch(`http://127.0.0.1:${state.adminPort}/readyz`)).status === 503, 'admin readyz 503', 2000).catch(() => {});
  const res = await inflight;
  assert.equal(res.status, 200, res.text);
  const { code } = await state.gw.exited;
  assert.equal(code, 0, state.gw.err);
  assert.doesNotMatch(state.gw.err, /AddressSanitizer|LeakSanitizer|runtime error/);
  await stopProc(r);
});

test('bad configuration exits 2 naming the variable; no usable key refuses to start', { skip: SKIP }, () => {
  const base = { TM_NATS_URL: state.natsUrl, TM_HTTP_PORT: '1', TM_ADMIN_PORT: '2', PATH: process.env.PATH };
  const pub = path.join(os.tmpdir(), `tm-gw-e2e-${process.pid}.pub`);
  fs.writeFileSync(pub, state.privateKey.export({ type: 'pkcs8', format: 'pem' })); // a private key is not a public key
  const cases = [
    [{}, 'TM_JWT_PUBLIC_KEY_FILE'],
    [{ TM_JWT_PUBLIC_KEY_FILE: '/nonexistent.pem' }, 'TM_JWT_PUBLIC_KEY_FILE'],
    [{ TM_JWT_PUBLIC_KEY_FILE: pub }, 'TM_JWT_PUBLIC_KEY_FILE'],
    [{ TM_JWT_ALG: 'RS256' }, 'TM_JWT_ALG'],
    [{ TM_JWT_ALG: 'HS256', TM_JWT_SECRET: 'short' }, 'TM_JWT_SECRET'],
    [{ TM_JWT_ALG: 'HS256', TM_JWT_SECRET: 'x'.repeat(40), TM_GATEWAY_THREADS: '65' }, 'TM_GATEWAY_THREADS'],
    [{ TM_JWT_ALG: 'HS256', TM_JWT_SECRET: 'x'.repeat(40), TM_REQUEST_TIMEOUT: 'soon' }, 'TM_REQUEST_TIMEOUT'],
    [{ TM_JWT_ALG: 'HS256', TM_JWT_SECRET: 'x'.repeat(40), TM_TLS_CERT: '/x.pem' }, 'TM_TLS_KEY'],
    [{ TM_JWT_ALG: 'HS256', TM_JWT_SECRET: 'x'.repeat(40), TM_NATS_URL: '' }, 'TM_NATS_URL'],
  ];
  for (const [env, name] of cases) {
    const r = spawnSync(GATEWAY_BIN, [], { env: { ...base, ...env }, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, `${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(name), JSON.stringify(env));
    assert.doesNotMatch(r.stdout + r.stderr, /x{40}/, 'the secret is never echoed');
  }
  fs.rmSync(pub);
});
