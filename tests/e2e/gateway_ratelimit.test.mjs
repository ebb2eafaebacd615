// Rate limits of tm-gateway (token buckets per user, per client IP, tighter per IP on
// login/register/refresh), on a gateway this file starts against the test stack's NATS
// with small limits so that the buckets empty quickly. The stack's tm-task answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { api, registerAndLogin, PASSWORD } from './lib/client.mjs';
import { GATEWAY_BIN, PUBKEY, startGateway, stopAll, sleep, metric } from './lib/procs.mjs';

const SKIP = !GATEWAY_BIN || !fs.existsSync(PUBKEY) ? 'tm-gateway binary or stack keys not found' : false;
const st = {};

before(async () => {
  if (SKIP) return;
  st.user = await registerAndLogin('rl'); // through the stack's gateway
  st.gw = await startGateway({
    TM_RATE_USER_RPS: '2', TM_RATE_USER_BURST: '5',
    TM_RATE_IP_RPS: '2', TM_RATE_IP_BURST: '4',
    TM_RATE_AUTH_RPS: '1', TM_RATE_AUTH_BURST: '3',
  });
});

after(async () => { await stopAll(); });

function check429(res, policy, q) {
  assert.equal(res.status, 429, res.text);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  assert.equal(res.json.status, 429);
  const retry = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 2, `Retry-After ${retry}`);
  assert.match(res.headers.get('ratelimit-policy'), new RegExp(`^"${policy}";q=${q};w=\\d+$`));
  assert.match(res.headers.get('ratelimit'), new RegExp(`^"${policy}";r=0;t=\\d+$`));
}

test('per user: the burst passes, then 429 with Retry-After and RateLimit headers, then refills', { skip: SKIP }, async () => {
  const tok = st.user.access_token;
  const codes = [];
  for (let i = 0; i < 8; i++) codes.push((await api('GET', `${st.gw.base}/api/v1/me`, { token: tok })).status);
  assert.deepEqual(codes.slice(0, 5), [200, 200, 200, 200, 200]);
  assert.ok(codes.slice(5).every((c) => c === 429), codes.join(','));
  check429(await api('GET', `${st.gw.base}/api/v1/me`, { token: tok }), 'user', 5);
  // another user has its own bucket
  const other = await registerAndLogin('rl-other');
  assert.equal((await api('GET', `${st.gw.base}/api/v1/me`, { token: other.access_token })).status, 200);
  await sleep(1100); // 2 tokens/s
  assert.equal((await api('GET', `${st.gw.base}/api/v1/me`, { token: tok })).status, 200);
  assert.ok((await metric(st.gw.adminPort, 'tm_http_rate_limited_total')) >= 3);
});

test('login per client IP is tighter; /healthz and /readyz are never limited', { skip: SKIP }, async () => {
  // All sent together: a login (argon2, slower still in the sanitizer build on a busy
  // machine) can take longer than the bucket's 1 s refill, so anything sent after the
  // logins answered could earn a token back. Register shares the login bucket: of 5
  // logins and 1 register, exactly the burst (3) passes.
  const reqs = Array.from({ length: 5 }, () => api('POST', `${st.gw.base}/api/v1/auth/login`, {
    body: { email: st.user.email, password: PASSWORD, device: 'rl' },
  }));
  reqs.push(api('POST', `${st.gw.base}/api/v1/auth/register`, {
    body: { email: `x-${Date.now()}@test.local`, password: PASSWORD, display_name: 'x' },
  }));
  const res = await Promise.all(reqs);
  const limited = res.filter((r) => r.status === 429);
  assert.equal(limited.length, 3, res.map((r) => r.status).join(','));
  assert.ok(res.every((r) => [200, 201, 429].includes(r.status)), res.map((r) => r.status).join(','));
  for (const r of limited) check429(r, 'auth', 3);
  for (let i = 0; i < 20; i++) assert.equal((await api('GET', `${st.gw.base}/healthz`)).status, 200);
});

test('unauthenticated routes are limited per client IP', { skip: SKIP }, async () => {
  const codes = [];
  for (let i = 0; i < 7; i++) codes.push((await api('GET', `${st.gw.base}/api/v1/openapi.json`)).status);
  assert.ok(codes.slice(0, 4).every((c) => c === 200), codes.join(','));
  assert.equal(codes.at(-1), 429);
  check429(await api('GET', `${st.gw.base}/api/v1/openapi.json`), 'ip', 4);
});
