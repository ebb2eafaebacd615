// faults.mjs: the fault checks of tests/reliability/run.sh, one per argument:
//   task-kill   kill -9 tm-task 10x under idempotent creates
//   nats-kill   kill -9 nats-server 5x while the relay publishes
//   pg-kill     kill -9 Postgres 2x under writes
//   blackhole   5 s blackhole between tm-realtime and NATS (faultproxy.mjs)
// Each prints RESULT| lines (lib.mjs result()); exit status 0 even when a check fails (the
// table counts failures), non-zero only when the driver itself broke.
import { randomUUID } from 'node:crypto';
import { ADMIN, NATS_MON, PROXY_CTL, api, auditCreates, ctl, httpOk, metric, now, result, sleep, sql, sqlInt,
  user, waitFor, workspace, writers } from './lib.mjs';

const SERVICES = ['task', 'realtime', 'ai', 'gateway'];

async function writesAudit(name, ws, w) {
  await w.stop();
  const a = await auditCreates(ws, w.acked);
  result(`${name}: acknowledged creates`, '> 0', a.acked, a.acked > 0);
  result(`${name}: acknowledged creates missing from DB`, '0', a.lost, a.lost === 0);
  result(`${name}: rows created twice (not acknowledged)`, '0', a.unackedRows, a.unackedRows === 0);
  result(`${name}: idempotent replay gave another id`, '0', w.mismatched, w.mismatched === 0);
  result(`${name}: acked creates without outbox row / with 2+`, '0 / 0', `${a.obMissing} / ${a.obDup}`,
    a.obMissing === 0 && a.obDup === 0);
  return a;
}

/**
 * Time from `since` until a fresh create (new key, 1 s timeout per try) is acknowledged, or
 * -1 after timeoutMs. The probe's task joins w.acked so the audit covers it too.
 */
async function probeCreate(token, ws, w, since, timeoutMs) {
  while (now() - since < timeoutMs) {
    const key = randomUUID();
    const r = await api('POST', '/api/v1/tasks', {
      token, body: { workspace_id: ws, title: `probe ${key}` }, headers: { 'idempotency-key': key }, timeout: 1000 });
    if (r.status === 201 || r.status === 200) {
      w.acked.set(key, r.json.id);
      return now() - since;
    }
    if (r.status !== 0) await sleep(50);
    else {
      // timed out: the create may have been applied; finish it with the same key
      const deadline = now() + 30000;
      for (;;) {
        const again = await api('POST', '/api/v1/tasks', {
          token, body: { workspace_id: ws, title: `probe ${key}` }, headers: { 'idempotency-key': key }, timeout: 2000 });
        if (again.status === 201 || again.status === 200) { w.acked.set(key, again.json.id); break; }
        if (now() > deadline) break;
        await sleep(100);
      }
      if (now() - since < timeoutMs && w.acked.has(key)) return now() - since;
    }
  }
  return -1;
}

/** Time from `since` until some writer gets an acknowledgement, or -1 after timeoutMs. */
async function ackAfter(w, since, timeoutMs) {
  const ms = await waitFor(() => w.lastAck > since, timeoutMs, 20);
  return ms < 0 ? -1 : w.lastAck - since;
}

async function taskKill() {
  const u = await user('kill-task');
  const ws = await workspace(u.token, 'kill tm-task');
  const w = writers(u.token, ws, 4);
  let worst = 0;
  let failedRestarts = 0;
  await sleep(1000);
  for (let i = 0; i < 10; i++) {
    await ctl('kill9', 'task');
    await sleep(300); // let the gateway see the outage: clients get 503/504 and retry
    await ctl('start', 'task');
    const t0 = now();
    const ms = await probeCreate(u.token, ws, w, t0, 10000);
    if (ms < 0) failedRestarts++;
    worst = Math.max(worst, ms < 0 ? 10000 : ms);
    await sleep(700);
  }
  result('task-kill: kills of tm-task', '10', 10 - failedRestarts, failedRestarts === 0);
  result('task-kill: worst restart -> first acked create (ms)', '<= 3000', worst, worst <= 3000);
  console.log(`task-kill: statuses seen while down: ${JSON.stringify(w.statuses)}, retries ${w.retries}`);
  await writesAudit('task-kill', ws, w);
}

async function streamMessages() {
  try {
    const r = await fetch(`http://127.0.0.1:${NATS_MON}/jsz?streams=true`, { signal: AbortSignal.timeout(2000) });
    const j = await r.json();
    for (const acc of j.account_details || [])
      for (const s of acc.stream_detail || []) if (s.name === 'TM_EVENTS') return s.state.messages;
  } catch {
    /* counted as NaN */
  }
  return NaN;
}

/** After writes stopped: relay drained, stream == outbox, every consumer applied each once. */
async function eventsAudit(name) {
  const drained = await waitFor(async () => (await sqlInt('SELECT count(*) FROM task.outbox WHERE published_at IS NULL')) === 0, 30000, 250);
  const unpublished = await sqlInt('SELECT count(*) FROM task.outbox WHERE published_at IS NULL');
  result(`${name}: unpublished outbox rows after drain`, '0', unpublished, unpublished === 0 && drained >= 0);
  const outbox = await sqlInt('SELECT count(*) FROM task.outbox');
  await waitFor(async () => (await streamMessages()) >= outbox, 10000, 250);
  const stream = await streamMessages();
  result(`${name}: TM_EVENTS messages == outbox rows`, String(outbox), stream, stream === outbox);
  await waitFor(async () => (await sqlInt('SELECT count(*) FROM realtime.room_events')) >= outbox, 30000, 250);
  const rt = await sqlInt('SELECT count(*) FROM realtime.room_events');
  const rtMissing = await sqlInt(
    'SELECT count(*) FROM task.outbox o WHERE NOT EXISTS (SELECT 1 FROM realtime.room_events r WHERE r.event_id = o.event_id)');
  const rtDup = await sqlInt('SELECT count(*) FROM (SELECT event_id FROM realtime.room_events GROUP BY 1 HAVING count(*) > 1) d');
  result(`${name}: realtime room_events == outbox rows (missing, dup)`, `${outbox} (0, 0)`, `${rt} (${rtMissing}, ${rtDup})`,
    rt === outbox && rtMissing === 0 && rtDup === 0);
  await waitFor(async () => (await sqlInt('SELECT count(*) FROM ai.processed_events')) >= outbox, 30000, 250);
  const ai = await sqlInt('SELECT count(*) FROM ai.processed_events');
  const aiMissing = await sqlInt(
    'SELECT count(*) FROM task.outbox o WHERE NOT EXISTS (SELECT 1 FROM ai.processed_events a WHERE a.event_id = o.event_id)');
  result(`${name}: ai processed_events == outbox rows (missing)`, `${outbox} (0)`, `${ai} (${aiMissing})`,
    ai === outbox && aiMissing === 0);
}

async function natsKill() {
  const u = await user('kill-nats');
  const ws = await workspace(u.token, 'kill nats');
  const w = writers(u.token, ws, 4);
  await sleep(1500);
  let worst = 0;
  for (let i = 0; i < 5; i++) {
    await ctl('kill9', 'nats');
    await sleep(200);
    await ctl('start', 'nats');
    const t0 = now();
    const ms = await ackAfter(w, t0, 15000);
    worst = Math.max(worst, ms < 0 ? 15000 : ms);
    await sleep(1200);
  }
  result('nats-kill: worst nats restart -> first acked create (ms)', '<= 5000', worst, worst <= 5000);
  await writesAudit('nats-kill', ws, w);
  await eventsAudit('nats-kill');
}

async function allReady() {
  for (const s of SERVICES) if (!(await httpOk(`http://127.0.0.1:${ADMIN[s]}/readyz`, 500))) return false;
  return true;
}

async function pgKill() {
  const u = await user('kill-pg');
  const ws = await workspace(u.token, 'kill postgres');
  const w = writers(u.token, ws, 4);
  await sleep(1500);
  let worstReady = 0;
  let worstAck = 0;
  for (let i = 0; i < 2; i++) {
    await ctl('kill9', 'postgres');
    await sleep(1000);
    await ctl('start', 'postgres');
    const t0 = now();
    const ms = await ackAfter(w, t0, 15000);
    worstAck = Math.max(worstAck, ms < 0 ? 15000 : ms);
    const ready = await waitFor(allReady, 15000, 100);
    worstReady = Math.max(worstReady, ready < 0 ? 15000 : ready + (now() - t0 - ready > 0 ? 0 : 0));
    await sleep(1500);
  }
  result('pg-kill: worst Postgres restart -> all 4 daemons ready (ms)', '<= 5000', worstReady, worstReady <= 5000);
  result('pg-kill: worst Postgres restart -> first acked create (ms)', '<= 5000', worstAck, worstAck <= 5000);
  const dead = [];
  for (const s of SERVICES) {
    try {
      await ctl('alive', s);
    } catch {
      dead.push(s);
    }
  }
  result('pg-kill: daemons that exited', 'none', dead.length ? dead.join(',') : 'none', dead.length === 0);
  await writesAudit('pg-kill', ws, w);
}

async function proxy(cmd) {
  const r = await fetch(`http://127.0.0.1:${PROXY_CTL}/${cmd}`, { signal: AbortSignal.timeout(2000) });
  return r.json();
}

async function blackhole() {
  const u = await user('blackhole');
  const ws = await workspace(u.token, 'blackhole');
  const up0 = await metric('realtime', 'tm_nats_connected');
  result('blackhole: tm-realtime connected through the proxy before', '1', up0, up0 === 1);
  const w = writers(u.token, ws, 2, { pauseMs: 50 });
  await sleep(1000);
  await proxy('blackhole/on');
  const t0 = now();
  const detect = await waitFor(async () => (await metric('realtime', 'tm_nats_connected')) === 0, 5000, 50);
  const left = 5000 - (now() - t0);
  if (left > 0) await sleep(left);
  const st = await proxy('blackhole/off');
  console.log(`blackhole: proxy dropped ${st.dropped} bytes`);
  const back = await waitFor(async () => (await metric('realtime', 'tm_nats_connected')) === 1, 15000, 50);
  result('blackhole: detected by tm-realtime (ms)', '<= 3000', detect, detect >= 0 && detect <= 3000);
  result('blackhole: reconnected after the link returned (ms)', '<= 5000', back, back >= 0 && back <= 5000);
  await writesAudit('blackhole', ws, w);
  await eventsAudit('blackhole');
}

const checks = { 'task-kill': taskKill, 'nats-kill': natsKill, 'pg-kill': pgKill, blackhole };
for (const name of process.argv.slice(2)) {
  const fn = checks[name];
  if (!fn) {
    console.error(`unknown check ${name}`);
    process.exit(2);
  }
  try {
    await fn();
  } catch (e) {
    result(`${name}: driver`, 'no error', String(e.message || e).slice(0, 120).replace(/\|/g, '/'), false);
  }
}
