// ws.mjs: 50 WebSocket clients in one workspace room while tasks are created at 20/s; each
// client is dropped (socket destroyed, no close frame) 3 times and reconnects with
// {"op":"resume","room":...,"since":<last seq>} (proto/websocket.md). Afterwards every
// client must hold every seq from its first to the room's last: 0 missing, 0 out of order.
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { GW, api, now, result, sleep, sqlInt, user, waitFor, workspace } from './lib.mjs';

const CLIENTS = 50;
const USERS = 10; // the gateway caps sockets per user (TM_WS_MAX_PER_USER, default 20)
const RATE = 20; // events/s
const SECONDS = 15;
const DROPS = 3;
const WS_URL = GW.replace(/^http/, 'ws') + '/ws';

function open(token) {
  return new Promise((resolve, reject) => {
    const s = new WebSocket(WS_URL, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 3000 });
    s.once('open', () => resolve(s));
    s.once('error', reject);
    s.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} on /ws`)));
  });
}

const errorCodes = {};

class Client {
  constructor(token, room) {
    Object.assign(this, { token, room, last: -1, first: -1, seen: new Set(), missing: 0, outOfOrder: 0, dup: 0, recovered: 0, notOk: 0, errors: 0, sock: null });
  }
  /** Connect and subscribe (first time) or resume; resolves when the server answered the op. */
  async connect() {
    const s = await open(this.token);
    this.sock = s;
    const answered = new Promise((resolve) => {
      this.answered = resolve;
      setTimeout(resolve, 5000);
    });
    s.on('message', (buf) => this.onMessage(JSON.parse(buf.toString())));
    s.on('error', () => {});
    const op = this.last < 0 ? { op: 'subscribe', room: this.room } : { op: 'resume', room: this.room, since: this.last };
    s.send(JSON.stringify(op));
    await answered;
  }
  onMessage(m) {
    if (m.op === 'subscribed' && this.last < 0) {
      this.last = m.seq;
      this.first = m.seq;
      this.answered?.();
    } else if (m.op === 'event' && m.room === this.room) {
      if (this.seen.has(m.seq)) this.dup++;
      else if (m.seq < this.last) this.outOfOrder++;
      else if (m.seq > this.last + 1 && this.last >= 0) this.missing += m.seq - this.last - 1;
      this.seen.add(m.seq);
      if (m.seq > this.last) this.last = m.seq;
    } else if (m.op === 'recovered') {
      this.recovered++;
      if (!m.ok) this.notOk++;
      this.answered?.();
    } else if (m.op === 'error') {
      this.errors++;
      errorCodes[m.code] = (errorCodes[m.code] || 0) + 1;
      this.answered?.();
    }
  }
  drop() {
    this.sock?.terminate(); // TCP close without a close frame
    this.sock = null;
  }
}

async function main() {
  const owner = await user('ws-owner');
  const ws = await workspace(owner.token, 'ws fan-out');
  const room = `workspace:${ws}`;
  const probe = await open(owner.token).catch((e) => e);
  if (probe instanceof Error) {
    result('ws: GET /ws upgrades (SKIPPED: the rest of the ws check did not run)', '101', probe.message, false);
    return;
  }
  probe.close();
  const users = [owner];
  for (let i = 1; i < USERS; i++) {
    const u = await user(`ws-${i}`);
    const r = await api('POST', `/api/v1/workspaces/${ws}/members`, { token: owner.token, body: { user_id: u.id, role: 'viewer' } });
    if (r.status !== 201 && r.status !== 200) throw new Error(`add member: ${r.status} ${r.text}`);
    users.push(u);
  }
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(new Client(users[i % USERS].token, room));
  await Promise.all(clients.map((c) => c.connect()));
  await waitFor(() => clients.every((c) => c.last >= 0), 10000);

  // writer: RATE creates per second for SECONDS
  let created = 0;
  const writer = (async () => {
    const t0 = now();
    const deadline = t0 + (SECONDS + 20) * 1000; // a stuck gateway ends the run, not the suite
    for (let i = 0; i < RATE * SECONDS && now() < deadline; i++) {
      const due = t0 + (i * 1000) / RATE;
      if (due > now()) await sleep(due - now());
      const key = randomUUID();
      for (let a = 0; a < 50 && now() < deadline; a++) {
        const r = await api('POST', '/api/v1/tasks', { token: owner.token, body: { workspace_id: ws, title: `ws ${i}` }, headers: { 'idempotency-key': key }, timeout: 2000 });
        if (r.status === 201 || r.status === 200) { created++; break; }
        await sleep(100);
      }
    }
  })();
  // dropper: each client dropped DROPS times at spread moments, reconnecting 200 ms later
  let reconnectFailures = 0;
  const dropper = (async () => {
    const slots = [];
    for (const c of clients) for (let d = 0; d < DROPS; d++) slots.push({ c, at: 1000 + Math.random() * (SECONDS - 3) * 1000 });
    slots.sort((a, b) => a.at - b.at);
    const t0 = now();
    await Promise.all(slots.map(async ({ c, at }) => {
      await sleep(at);
      while (c.busy) await sleep(50);
      c.busy = true;
      c.drop();
      await sleep(200);
      for (let a = 0; ; a++) {
        try { await c.connect(); break; } catch { if (a > 20) { reconnectFailures++; break; } await sleep(100); }
      }
      c.busy = false;
    }));
    return now() - t0;
  })();
  await Promise.all([writer, dropper]);
  const final = await sqlInt(`SELECT max(seq) FROM task.outbox WHERE workspace_id = '${ws}'`);
  const settled = await waitFor(() => clients.every((c) => c.last >= final), 15000, 100);
  let missing = 0, outOfOrder = 0, dup = 0, notOk = 0, resumes = 0;
  for (const c of clients) {
    for (let s = c.first + 1; s <= final; s++) if (!c.seen.has(s)) missing++;
    outOfOrder += c.outOfOrder;
    dup += c.dup;
    notOk += c.notOk;
    resumes += c.recovered;
    c.drop();
  }
  console.log(`ws: ${created} events, ${clients.length} clients, ${resumes} resumes, ${dup} duplicate deliveries, ` +
    `errors ${JSON.stringify(errorCodes)}, settled ${settled} ms`);
  result('ws: events created at 20/s', `${RATE * SECONDS}`, created, created === RATE * SECONDS);
  result('ws: reconnects that failed (50 clients x 3 drops)', '0', reconnectFailures, reconnectFailures === 0);
  result('ws: resumes answered recovered{ok:true}', `${CLIENTS * DROPS}`, `${resumes - notOk}`, resumes - notOk === CLIENTS * DROPS);
  result('ws: events missing over all clients', '0', missing, missing === 0);
  result('ws: events out of order over all clients', '0', outOfOrder, outOfOrder === 0);
}

try {
  await main();
} catch (e) {
  result('ws: driver', 'no error', String(e.message || e).slice(0, 120).replace(/\|/g, '/'), false);
}
