// helpers.mjs: what the security tests share. Builds on tests/e2e/lib/client.mjs and records
// every password and token it hands out in $TM_TEST_STATE/secrets.txt, so that
// tests/security/log_secrets.sh can prove none of them reached a daemon log.
import { appendFileSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, registerAndLogin, PASSWORD, BASE_URL, WS_URL, uniq } from '../e2e/lib/client.mjs';

export { api, PASSWORD, BASE_URL, WS_URL, uniq };
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function recordSecret(...s) {
  const st = process.env.TM_TEST_STATE;
  if (!st) return;
  const lines = s.filter((x) => typeof x === 'string' && x.length >= 8);
  if (lines.length) appendFileSync(path.join(st, 'secrets.txt'), lines.join('\n') + '\n');
}

/** registerAndLogin that records the password and both tokens. */
export async function newUser(prefix) {
  const u = await registerAndLogin(prefix);
  recordSecret(u.password, u.access_token, u.refresh_token);
  return u;
}

export async function login(email) {
  const r = await api('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD, device: 'sec' } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
  recordSecret(r.json.access_token, r.json.refresh_token);
  return r.json;
}

/** Give a user a global role with `tm-task promote` (TM_TEST_TASK_BIN, TM_TEST_TASK_PG_URL). */
export function promote(email, role) {
  const bin = process.env.TM_TEST_TASK_BIN || path.join(ROOT, 'build/services/task/tm-task');
  const pg = process.env.TM_TEST_TASK_PG_URL;
  if (!pg) throw new Error('TM_TEST_TASK_PG_URL must be set (the conninfo of the stack\'s tm-task)');
  execFileSync(bin, ['promote', email, role], { env: { ...process.env, TM_PG_URL: pg }, stdio: 'pipe' });
}

/** A user with a global role, logged in again after the promotion (the role is a claim). */
export async function userWithRole(role) {
  const u = await newUser(role);
  promote(u.email, role);
  const l = await login(u.email);
  return { ...u, access_token: l.access_token, refresh_token: l.refresh_token };
}

/** The gateway's route table, read from services/gateway/routes.c. */
export function routeTable() {
  const src = readFileSync(path.join(ROOT, 'services/gateway/routes.c'), 'utf8');
  const out = [];
  // Fields may wrap across lines (clang-format): whitespace between them is free.
  const re = /^\s*\{"(GET|POST|PUT|PATCH|DELETE)",\s*"([^"]+)",\s*([A-Z_0-9]+|NULL),\s*(true|false),\s*([UMA]),\s*(NONE|JSON|RAW),\s*([A-Z_0-9]+),\s*"/gm;
  let m;
  while ((m = re.exec(src)) !== null) {
    out.push({ method: m[1], pattern: m[2], subject: m[3], auth: m[4] === 'true', role: m[5], body: m[6], local: m[7] });
  }
  if (out.length < 10) throw new Error(`could not read the route table (${out.length} routes)`);
  return out;
}

/** Words an error body must never carry. */
export const LEAKS = [/\bSQL\b/i, /\bpq\b/, /postgres/i, /\bPQ[a-z]+/, /syntax error/i, /\/work\/|\/home\/|\/usr\/|\.c:\d+/,
  /\bat [a-zA-Z_]+ \(/, /stack trace/i, /Traceback/, /relation "/, /duplicate key/i, /violates/i];

export function leaks(text) {
  return LEAKS.filter((re) => re.test(text)).map(String);
}
