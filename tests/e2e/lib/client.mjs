// Helpers every e2e test imports. The gateway's base URL comes from TM_TEST_GATEWAY_URL
// (set by scripts/test.sh; defaults to the test stack's http://127.0.0.1:18080).
import { randomUUID } from 'node:crypto';

export const BASE_URL = (process.env.TM_TEST_GATEWAY_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
export const WS_URL = BASE_URL.replace(/^http/, 'ws') + '/ws';
export const PASSWORD = 'correct-horse-battery-9';
const TIMEOUT_MS = Number(process.env.TM_TEST_HTTP_TIMEOUT_MS || 15000);

/** A unique short id for names and emails. */
export function uniq() {
  return randomUUID();
}

/**
 * One HTTP call to the gateway.
 * @param {string} method
 * @param {string} path  absolute path (/api/v1/...) or full URL
 * @param {{token?: string, body?: any, headers?: object, raw?: Buffer|string}} opts
 *   body is sent as JSON; raw is sent as is (set Content-Type in headers).
 * @returns {Promise<{status:number, headers:Headers, json:any, text:string}>}
 *   json is null when the body is not JSON.
 */
export async function api(method, path, { token, body, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const url = path.startsWith('http') ? path : BASE_URL + path;
  const res = await fetch(url, { method, headers: h, body: payload, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  let json = null;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Throws with the response text when the status is not the expected one. */
export function expectStatus(res, status, what = '') {
  if (res.status !== status) {
    throw new Error(`${what} expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  }
  return res;
}

/**
 * Register a fresh user (<prefix>-<uuid>@test.local) and log in.
 * @returns {Promise<{user:object, access_token:string, refresh_token:string, session_id:string,
 *   email:string, password:string}>}
 */
export async function registerAndLogin(prefix = 'user', { email } = {}) {
  const addr = email || `${prefix}-${uniq()}@test.local`;
  const reg = await api('POST', '/api/v1/auth/register', {
    body: { email: addr, password: PASSWORD, display_name: `${prefix} tester` },
  });
  expectStatus(reg, 201, `register ${addr}:`);
  const login = await api('POST', '/api/v1/auth/login', {
    body: { email: addr, password: PASSWORD, device: `e2e-${prefix}` },
  });
  expectStatus(login, 200, `login ${addr}:`);
  const { user, access_token, refresh_token, session_id } = login.json;
  return { user: user || reg.json, access_token, refresh_token, session_id, email: addr, password: PASSWORD };
}

/** Admin ports of the test stack from TM_TEST_ADMIN_PORTS ("gateway=19100,task=19101,..."). */
export function adminPorts() {
  const out = { gateway: 19100, task: 19101, realtime: 19102, ai: 19103 };
  for (const kv of (process.env.TM_TEST_ADMIN_PORTS || '').split(',')) {
    const [k, v] = kv.split('=');
    if (k && v) out[k.trim()] = Number(v);
  }
  return out;
}
