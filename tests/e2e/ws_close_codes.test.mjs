// WebSocket close codes of the token lifetime (proto/websocket.md, "Token lifetime" and
// "Close codes"): 4001 when the access token expires and no `auth` op replaced it; an
// `auth` op with a fresh token before `exp` keeps the socket open past the first token's
// `exp`; 4003 when the session is revoked (logout, or DELETE /api/v1/me/sessions/{id} from
// another device) while the socket is open; 1008 for an `auth` op with another user's token
// or an invalid one. Users and sessions are real (the test stack's tm-task); the short-lived
// tokens are signed here with the stack's key, with the claims of services/task/jwt_sign.c.
// The sockets go through a gateway of our own on the stack's NATS, with a
// 1 s JWT leeway and a 4 s idle timeout (expiry and revocation are checked every 2 s), so
// that each case takes seconds rather than the stack's 30 s leeway plus 10 s ticks.
// Env: TM_TEST_GATEWAY_URL, TM_TEST_NATS_URL, TM_TEST_STATE (keys); the gateway binary as in
// lib/cluster.mjs findDaemon (TM_TEST_GATEWAY_BIN, else the build of TM_TEST_TASK_BIN).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import fs from 'node:fs';
import { PASSWORD, api, expectStatus, registerAndLogin } from './lib/client.mjs';
import { findDaemon } from './lib/cluster.mjs';
import { NATS_URL, PRIVKEY, PUBKEY, freePort, httpGet, start, stop, waitFor } from './lib/procs.mjs';
import { openWsUrl, sleep } from './lib/ws.mjs';

const LEEWAY_S = 1;
const TICK_MS = 2000; // heartbeat_ms: half of TM_WS_IDLE_TIMEOUT
const SLACK_MS = 3000; // a loaded machine (ASan daemons, 2 cores)
const SANITIZER = /ERROR: AddressSanitizer|runtime error:|LeakSanitizer/;

let gw, wsUrl, key;

before(async () => {
  key = createPrivateKey(fs.readFileSync(PRIVKEY));
  // the stack's own build (scripts/test.sh: sanitizers), like lib/cluster.mjs
  const bin = findDaemon('gateway');
  assert.ok(bin, 'tm-gateway not found: build first or set TM_TEST_GATEWAY_BIN');
  const [port, adminPort] = [await freePort(), await freePort()];
  gw = start(bin, [], {
    TM_HTTP_HOST: '127.0.0.1', TM_HTTP_PORT: String(port), TM_ADMIN_PORT: String(adminPort), TM_NATS_URL: NATS_URL,
    TM_JWT_PUBLIC_KEY_FILE: PUBKEY, TM_GATEWAY_THREADS: '2', TM_LOG_LEVEL: 'warn',
    TM_JWT_LEEWAY: `${LEEWAY_S}s`, TM_WS_IDLE_TIMEOUT: `${(TICK_MS * 2) / 1000}s`,
  });
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 'our gateway ready', 60000);
  wsUrl = `ws://127.0.0.1:${port}/ws`;
});

after(async () => {
  if (gw) await stop(gw);
});

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

/** An access token like tm-task's (services/task/jwt_sign.c) for user u's real session. */
function mint(u, { exp, sid = u.session_id, sub = u.user.id, signKey = key } = {}) {
  const now = nowS();
  const input = `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${b64({
    iss: 'taskmesh', aud: 'taskmesh-api', sub, role: 'user', sid, iat: now, nbf: now, exp, jti: randomUUID(),
  })}`;
  const sig = sign('sha256', Buffer.from(input), { key: signKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${input}.${sig}`;
}

/** Open a socket on our gateway and wait for hello. */
async function connect(token) {
  const c = await openWsUrl(wsUrl, token);
  const hello = await c.next('hello');
  return { c, hello };
}

/** The close the server sent within ms ({code, reason, at}), or null. */
async function closedWithin(c, ms) {
  let timer;
  const r = await Promise.race([
    c.closed.then((x) => ({ ...x, at: Date.now() })),
    new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); }),
  ]);
  clearTimeout(timer);
  return r;
}

/** A ping op answered end to end: the socket is open and served. */
async function alive(c, id) {
  c.send({ op: 'ping', id });
  const pong = await c.next((o) => o.op === 'pong' && o.id === id, 5000, `pong ${id}`);
  return pong.id === id;
}

test('an already expired token (beyond the leeway) is refused at the upgrade with 401', async () => {
  const u = await registerAndLogin('wscc-expired');
  const err = await openWsUrl(wsUrl, mint(u, { exp: nowS() - LEEWAY_S - 5 })).then(() => null, (e) => e);
  assert.ok(err, 'the upgrade was refused');
  assert.equal(err.status, 401);
});

test('4001: the access token expires and no auth op replaced it', async () => {
  const u = await registerAndLogin('wscc-4001');
  const exp = nowS() + 3;
  const { c, hello } = await connect(mint(u, { exp }));
  assert.equal(hello.user_id, u.user.id);
  assert.equal(hello.heartbeat_ms, TICK_MS);
  assert.ok(await alive(c, 1), 'served before exp');
  const closed = await closedWithin(c, (exp + LEEWAY_S) * 1000 - Date.now() + TICK_MS + SLACK_MS);
  assert.ok(closed, 'the socket was closed after exp + leeway');
  assert.equal(closed.code, 4001, JSON.stringify(closed));
  assert.match(closed.reason, /expired/);
  assert.ok(closed.at > (exp + LEEWAY_S) * 1000, `not before exp + leeway (closed ${closed.at - exp * 1000} ms after exp)`);
});

test('auth op with a fresh token (REST refresh) before exp keeps the socket open past the first exp', async () => {
  const u = await registerAndLogin('wscc-auth');
  const exp = nowS() + 3;
  const { c } = await connect(mint(u, { exp }));
  const refreshed = expectStatus(await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: u.refresh_token } }), 200, 'refresh').json;
  c.send({ op: 'auth', token: refreshed.access_token });
  const ok = await c.next((o) => o.op === 'authenticated' || o.op === 'error');
  assert.equal(ok.op, 'authenticated', JSON.stringify(ok));
  const claims = JSON.parse(Buffer.from(refreshed.access_token.split('.')[1], 'base64url').toString());
  assert.equal(ok.exp, claims.exp, 'authenticated carries the new exp');
  assert.ok(ok.exp > exp + 60);
  // two ticks past the first token's exp + leeway
  await sleep((exp + LEEWAY_S) * 1000 - Date.now() + 2 * TICK_MS + 500);
  assert.equal(await closedWithin(c, 0), null, 'still open past the first exp');
  assert.ok(await alive(c, 'after-exp'), 'served past the first exp');
  const done = await c.close();
  assert.equal(done.code, 1000);
});

test('4003: logout of the session while its socket is open', async () => {
  const u = await registerAndLogin('wscc-logout');
  const { c } = await connect(u.access_token);
  assert.ok(await alive(c, 1));
  const t0 = Date.now();
  expectStatus(await api('POST', '/api/v1/auth/logout', { token: u.access_token }), 204, 'logout');
  const closed = await closedWithin(c, TICK_MS + SLACK_MS);
  assert.ok(closed, 'the socket was closed after the logout');
  assert.equal(closed.code, 4003, JSON.stringify(closed));
  assert.match(closed.reason, /revoked/);
  assert.ok(closed.at - t0 <= TICK_MS + SLACK_MS);
});

test('4003: DELETE /api/v1/me/sessions/{id} from another device; that device\'s socket stays', async () => {
  const u = await registerAndLogin('wscc-revoke');
  const other = expectStatus(await api('POST', '/api/v1/auth/login', {
    body: { email: u.email, password: PASSWORD, device: 'e2e-other' },
  }), 200, 'second login').json;
  assert.notEqual(other.session_id, u.session_id);
  const { c: first } = await connect(u.access_token);
  const { c: second } = await connect(other.access_token);
  expectStatus(await api('DELETE', `/api/v1/me/sessions/${u.session_id}`, { token: other.access_token }), 204, 'revoke');
  const closed = await closedWithin(first, TICK_MS + SLACK_MS);
  assert.ok(closed, 'the revoked session\'s socket was closed');
  assert.equal(closed.code, 4003, JSON.stringify(closed));
  await sleep(TICK_MS + 200); // one more check of every socket
  assert.equal(await closedWithin(second, 0), null, 'the other session\'s socket is still open');
  assert.ok(await alive(second, 'other'));
  assert.equal((await second.close()).code, 1000);
});

test('1008: auth op with another user\'s token, a garbage token, a forged or an expired one', async () => {
  const [u, v] = await Promise.all([registerAndLogin('wscc-a'), registerAndLogin('wscc-b')]);
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const cases = {
    'another user\'s token': v.access_token,
    'garbage': 'not-a-token',
    'forged signature': mint(u, { exp: nowS() + 600, signKey: otherKey }),
    'expired': mint(u, { exp: nowS() - LEEWAY_S - 5 }),
  };
  for (const [what, token] of Object.entries(cases)) {
    const { c } = await connect(u.access_token);
    c.send({ op: 'auth', token });
    const closed = await closedWithin(c, 5000);
    assert.ok(closed, `${what}: closed`);
    assert.equal(closed.code, 1008, `${what}: ${JSON.stringify(closed)}; inbox ${JSON.stringify(c.inbox)}`);
    assert.equal(c.inbox.filter((o) => o.op === 'authenticated').length, 0, `${what}: not authenticated`);
  }
  // the refused tokens did not touch the owner's session: a new socket is served
  const { c } = await connect(u.access_token);
  assert.ok(await alive(c, 'after'));
  await c.close();
});

test('our gateway stops cleanly (SIGTERM) with no sanitizer report', async () => {
  const { code, sig } = await stop(gw);
  const out = gw.out;
  gw = null;
  assert.equal(sig, null, out.slice(-2000));
  assert.equal(code, 0, out.slice(-2000));
  assert.doesNotMatch(out, SANITIZER);
});
