// lib.mjs: helpers of the reliability drivers: gateway calls, stack actions (stackctl.sh),
// SQL, result lines. Every wait has a deadline; nothing loops unbounded.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GW = process.env.TM_REL_GATEWAY_URL || 'http://127.0.0.1:8030';
export const ADMIN_BASE = Number(process.env.TM_REL_ADMIN_BASE || 9230);
export const ADMIN = { gateway: ADMIN_BASE, task: ADMIN_BASE + 1, realtime: ADMIN_BASE + 2, ai: ADMIN_BASE + 3 };
export const NATS_MON = Number(process.env.TM_REL_NATS_MON_PORT || 4331);
export const PROXY_CTL = Number(process.env.TM_REL_PROXY_CTL_PORT || 7031);
export const PASSWORD = 'rel-Password-' + randomUUID().slice(0, 8);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => Number(process.hrtime.bigint() / 1000000n);

/** Record one row of the final table: RESULT|check|bound|measured|pass|fail. */
export function result(check, bound, measured, ok) {
  const line = `RESULT|${check}|${bound}|${measured}|${ok ? 'pass' : 'fail'}`;
  console.log(line);
  if (process.env.TM_REL_RESULTS) appendFileSync(process.env.TM_REL_RESULTS, line + '\n');
  return ok;
}

/** Secrets used by the suite go to $TM_TEST_STATE/secrets.txt (log_secrets.sh greps them). */
export function recordSecret(s) {
  const st = process.env.TM_TEST_STATE;
  if (st && s) appendFileSync(path.join(st, 'secrets.txt'), s + '\n');
}

export async function api(method, p, { token, body, headers = {}, timeout = 5000 } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  try {
    const res = await fetch(GW + p, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeout) });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: res.status, json, text };
  } catch (e) {
    return { status: 0, json: null, text: String(e) };
  }
}

/** Register + login, retried for a while (the stack may still be settling). */
export async function user(prefix) {
  const email = `${prefix}-${randomUUID()}@rel.test`;
  recordSecret(PASSWORD);
  const deadline = now() + 20000;
  let reg;
  do {
    reg = await api('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD, display_name: prefix } });
    if (reg.status === 201 || reg.status === 409) break;
    await sleep(250);
  } while (now() < deadline);
  if (reg.status !== 201 && reg.status !== 409) throw new Error(`register: ${reg.status} ${reg.text}`);
  // a 503/429 right after a fault is an answer to retry (the client contract), within 20 s
  let login;
  do {
    login = await api('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD, device: 'rel' } });
    if (login.status === 200 || (login.status !== 0 && login.status !== 429 && login.status < 500)) break;
    await sleep(250);
  } while (now() < deadline + 20000);
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
  recordSecret(login.json.access_token);
  recordSecret(login.json.refresh_token);
  return { email, token: login.json.access_token, id: login.json.user?.id };
}

export async function workspace(token, name) {
  const r = await api('POST', '/api/v1/workspaces', { token, body: { name } });
  if (r.status !== 201 && r.status !== 200) throw new Error(`workspace: ${r.status} ${r.text}`);
  return r.json.id;
}

export async function ctl(...args) {
  const { stdout } = await run(path.join(HERE, 'stackctl.sh'), args, { timeout: 60000 });
  return stdout;
}

export async function sql(q) {
  const out = await ctl('sql', q);
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('|'));
}

export async function sqlInt(q) {
  const rows = await sql(q);
  return Number(rows[0]?.[0] ?? NaN);
}

export async function httpOk(url, timeout = 1000) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeout) });
    await r.text();
    return r.status === 200;
  } catch {
    return false;
  }
}

export async function metric(svc, name) {
  try {
    const r = await fetch(`http://127.0.0.1:${ADMIN[svc]}/metrics`, { signal: AbortSignal.timeout(1000) });
    const t = await r.text();
    const m = t.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Poll fn() every `every` ms until it returns true; the elapsed ms, or -1 at the deadline. */
export async function waitFor(fn, timeoutMs, every = 50) {
  const t0 = now();
  while (now() - t0 < timeoutMs) {
    if (await fn()) return now() - t0;
    await sleep(every);
  }
  return -1;
}

/**
 * Writers: n loops creating tasks in workspace ws, each with its own Idempotency-Key,
 * retried with the same key (and body) until acknowledged. stop() ends the loops once each
 * has its current key acknowledged (or gave up after giveUpMs), so every created row
 * belongs to an acknowledged create. acked: Map key -> task id.
 */
export function writers(token, ws, n, { giveUpMs = 60000, pauseMs = 20 } = {}) {
  const state = { acked: new Map(), mismatched: 0, gaveUp: 0, retries: 0, statuses: {}, lastAck: 0, stopping: false };
  const loops = [];
  for (let i = 0; i < n; i++) {
    loops.push(
      (async () => {
        while (!state.stopping) {
          const key = randomUUID();
          const body = { workspace_id: ws, title: `rel ${key}` };
          const t0 = now();
          for (;;) {
            const r = await api('POST', '/api/v1/tasks', { token, body, headers: { 'idempotency-key': key }, timeout: 4000 });
            if (r.status === 201 || r.status === 200) {
              const prev = state.acked.get(key);
              if (prev && prev !== r.json.id) state.mismatched++;
              state.acked.set(key, r.json.id);
              state.lastAck = now();
              break;
            }
            state.statuses[r.status] = (state.statuses[r.status] || 0) + 1;
            state.retries++;
            if (now() - t0 > giveUpMs) {
              state.gaveUp++;
              break;
            }
            await sleep(100);
          }
          await sleep(pauseMs);
        }
      })(),
    );
  }
  state.stop = async () => {
    state.stopping = true;
    await Promise.all(loops);
  };
  return state;
}

/** Lost and duplicated acknowledged creates of one workspace (tasks and outbox). */
export async function auditCreates(ws, acked) {
  const ids = new Set(acked.values());
  const rows = await sql(`SELECT id FROM task.tasks WHERE workspace_id = '${ws}'`);
  const inDb = new Set(rows.map((r) => r[0]));
  let lost = 0;
  for (const id of ids) if (!inDb.has(id)) lost++;
  // rows no client was ever given: a retried create that was applied twice
  const extra = [...inDb].filter((id) => !ids.has(id)).length;
  const ob = await sql(
    `SELECT payload->>'id', count(*) FROM task.outbox WHERE workspace_id = '${ws}' AND type = 'task.created' GROUP BY 1`,
  );
  const obCount = new Map(ob.map((r) => [r[0], Number(r[1])]));
  let obMissing = 0;
  let obDup = 0;
  for (const id of ids) {
    const c = obCount.get(id) || 0;
    if (c === 0) obMissing++;
    if (c > 1) obDup++;
  }
  return { acked: ids.size, lost, unackedRows: extra, obMissing, obDup };
}
