// OWASP API2:2023 Broken Authentication. The access token is accepted only as
// "Authorization: Bearer <token>" (and, for GET /ws only, ?access_token=); every other place,
// shape or forgery answers 401 with WWW-Authenticate, never 5xx. Forged tokens are signed with
// the stack's real key ($TM_TEST_STATE/keys/jwt-es256.pem) so only the claim checks stop them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createHmac, sign as cryptoSign } from 'node:crypto';
import { api, newUser, recordSecret, BASE_URL } from './helpers.mjs';

const KEYS = path.join(process.env.TM_TEST_STATE || '.state/test', 'keys');

async function me(headers, query = '') {
  const r = await fetch(`${BASE_URL}/api/v1/me${query}`, { headers, signal: AbortSignal.timeout(5000) });
  await r.text();
  return r.status;
}

test('token only in the Authorization header: query, cookie, other schemes -> 401', async () => {
  const u = await newUser('authn');
  const t = u.access_token;
  assert.equal(await me({ authorization: `Bearer ${t}` }), 200, 'control: the header works');
  const cases = {
    'no token': await me({}),
    'query access_token on a non-ws route': await me({}, `?access_token=${t}`),
    'query token': await me({}, `?token=${t}`),
    cookie: await me({ cookie: `access_token=${t}; token=${t}` }),
    'Basic scheme': await me({ authorization: `Basic ${Buffer.from('x:' + t).toString('base64')}` }),
    'no scheme': await me({ authorization: t }),
    'Bearer without token': await me({ authorization: 'Bearer ' }),
    'Bearer + token + junk': await me({ authorization: `Bearer ${t} extra` }),
    'X-Access-Token header': await me({ 'x-access-token': t }),
    'refresh token as access token': await me({ authorization: `Bearer ${u.refresh_token}` }),
    'token truncated': await me({ authorization: `Bearer ${t.slice(0, -4)}` }),
    'signature of another token': await me({ authorization: `Bearer ${t.split('.').slice(0, 2).join('.')}.${'A'.repeat(86)}` }),
    'alg none': await me({ authorization: `Bearer ${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${t.split('.')[1]}.` }),
  };
  const bad = Object.entries(cases).filter(([, s]) => s !== 401).map(([k, s]) => `${k}: ${s}`);
  assert.deepEqual(bad, []);
});

test('odd spellings of the header: never 5xx, never a different user', async () => {
  const u = await newUser('authn-odd');
  const t = u.access_token;
  const odd = {
    'lowercase bearer': `bearer ${t}`,
    'BEARER': `BEARER ${t}`,
    'double space': `Bearer  ${t}`,
    'tab': `Bearer\t${t}`,
    'trailing space': `Bearer ${t} `,
  };
  for (const [k, h] of Object.entries(odd)) {
    const r = await fetch(`${BASE_URL}/api/v1/me`, { headers: { authorization: h }, signal: AbortSignal.timeout(5000) });
    const body = await r.text();
    assert.ok(r.status === 200 || r.status === 401, `${k}: ${r.status}`);
    if (r.status === 200) assert.equal(JSON.parse(body).id, u.user.id, `${k}: another user`);
  }
});

test('forged tokens signed with the real key but wrong claims -> 401', async (t) => {
  const pem = path.join(KEYS, 'jwt-es256.pem');
  if (!existsSync(pem)) {
    t.skip(`no signing key at ${pem} (TM_TEST_STATE)`);
    return;
  }
  const key = readFileSync(pem);
  const pub = readFileSync(path.join(KEYS, 'jwt-es256.pub.pem'));
  const u = await newUser('authn-forge');
  const good = JSON.parse(Buffer.from(u.access_token.split('.')[1], 'base64url').toString());
  const nowS = Math.floor(Date.now() / 1000);
  // signed by hand (not with a JWT library) so that claims of any type can be forged
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (claims, opts = {}) => {
    const alg = opts.alg || 'ES256';
    const input = `${b64({ alg, typ: opts.typ || 'at+jwt' })}.${b64(claims)}`;
    const sig = alg === 'HS256'
      ? createHmac('sha256', opts.key).update(input).digest()
      : cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const tok = `${input}.${sig.toString('base64url')}`;
    recordSecret(tok);
    return tok;
  };
  const control = sign({ ...good });
  assert.equal(await me({ authorization: `Bearer ${control}` }), 200, 'control: a re-signed copy of a real token works');
  const forged = {
    expired: sign({ ...good, iat: nowS - 7200, exp: nowS - 3600 }),
    'not yet valid': sign({ ...good, nbf: nowS + 3600 }),
    'wrong issuer': sign({ ...good, iss: 'evil' }),
    'wrong audience': sign({ ...good, aud: 'other-api' }),
    'sub not a uuid': sign({ ...good, sub: "1' OR '1'='1" }),
    'role superuser': sign({ ...good, role: 'root' }),
    'typ JWT': sign({ ...good }, { typ: 'JWT' }),
    'HS256 with the public key as secret': sign({ ...good }, { alg: 'HS256', key: pub }),
    'no exp': sign(Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'exp'))),
    'exp as a string': sign({ ...good, exp: String(good.exp) }),
  };
  const bad = [];
  for (const [k, tok] of Object.entries(forged)) {
    const s = await me({ authorization: `Bearer ${tok}` });
    if (s !== 401) bad.push(`${k}: ${s}`);
  }
  assert.deepEqual(bad, []);
});

test('a logged-out session\'s access token stops working', async () => {
  const u = await newUser('authn-logout');
  const out = await api('POST', '/api/v1/auth/logout', { token: u.access_token, body: {} });
  assert.ok(out.status === 204 || out.status === 200, out.text);
  let s = 0;
  for (let i = 0; i < 20; i++) {
    s = await me({ authorization: `Bearer ${u.access_token}` });
    if (s === 401) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(s, 401);
  const re = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: u.refresh_token } });
  assert.equal(re.status, 401, re.text);
});

test('401 answers carry WWW-Authenticate and no token echo', async () => {
  const r = await fetch(`${BASE_URL}/api/v1/me`, { headers: { authorization: 'Bearer abc.def.ghi' } });
  const body = await r.text();
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') || '', /^Bearer/);
  assert.ok(!body.includes('abc.def.ghi'), body);
});
