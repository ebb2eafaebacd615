// A private taskmesh cluster for one test file, beside the shared test stack: its own
// nats-server (JetStream file store in a temp folder that outlives a nats-server restart),
// its own database in the stack's Postgres (schemas and grants as create_db_roles in
// scripts/lib/stack.sh), and any of the four daemons on free ports. Fault tests kill and
// restart its processes without touching the shared stack. Stops only what it started
// (its own child processes) and drops only its own database.
//   const c = await startCluster({ name, services: ['task', 'realtime', 'gateway'], env: { gateway: {...} } });
//   c.base, c.wsUrl, c.natsUrl, c.pgUrl, c.adminPorts; await c.kill('realtime'); await c.start('realtime');
//   await c.restartNats({ kill9: true, downMs: 1000 }); await c.stop();
// Env: TM_TEST_PG_URL (postgres superuser URL of the stack's database), TM_TEST_STATE (keys),
// TM_TEST_<SVC>_BIN (binaries; else the build folder of TM_TEST_TASK_BIN, else the newest
// build*/ folder holding every daemon asked for), TM_TEST_CLUSTER_KEEP=1 keeps the temp folder.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, STATE, freePort, httpGet, sleep } from './procs.mjs';

const run = promisify(execFile);
const DAEMONS = ['task', 'realtime', 'ai', 'gateway'];
const SCHEMAS = ['task', 'realtime', 'ai'];
const READY_MS = Number(process.env.TM_TEST_CLUSTER_READY_MS || 60000); // ASan start-up is slow
const STOP_MS = 15000;
const SANITIZER = /ERROR: AddressSanitizer|runtime error:|LeakSanitizer/;

// Every child of every cluster of this process, so that a test process that dies abruptly
// does not leave daemons behind (only our own children are signalled).
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch { /* gone */ }
  }
});

/**
 * The tm-<svc> binary to run: TM_TEST_<SVC>_BIN, else the one in the build folder of
 * TM_TEST_TASK_BIN (scripts/test.sh: the sanitizer build of the stack), else the newest
 * build* folder holding every daemon of `names`.
 */
export function findDaemon(svc, names = [svc]) {
  return binDir(svc, names);
}

function binDir(svc, names) {
  const env = process.env[`TM_TEST_${svc.toUpperCase()}_BIN`];
  if (env) return env;
  // the same build as the stack's tm-task (scripts/test.sh: the sanitizer build)
  if (process.env.TM_TEST_TASK_BIN) {
    const dir = path.resolve(path.dirname(process.env.TM_TEST_TASK_BIN), '..', '..');
    const p = path.join(dir, 'services', svc, `tm-${svc}`);
    if (fs.existsSync(p)) return p;
  }
  const dirs = fs.readdirSync(ROOT)
    .filter((d) => d.startsWith('build'))
    .map((d) => path.join(ROOT, d))
    .filter((d) => names.every((n) => fs.existsSync(path.join(d, 'services', n, `tm-${n}`))))
    .sort((a, b) => fs.statSync(path.join(b, 'services', svc, `tm-${svc}`)).mtimeMs -
      fs.statSync(path.join(a, 'services', svc, `tm-${svc}`)).mtimeMs);
  return dirs.length ? path.join(dirs[0], 'services', svc, `tm-${svc}`) : null;
}

async function psql(url, sql) {
  const { stdout } = await run('psql', ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
    { timeout: 30000 });
  return stdout.trim();
}

/** The stack's superuser URL with another database name. */
function withDb(url, db, user) {
  const u = new URL(url);
  u.pathname = `/${db}`;
  if (user) u.username = user;
  return u.toString();
}

async function createDatabase(adminUrl, db) {
  await psql(adminUrl, `CREATE DATABASE ${db}`);
  const url = withDb(adminUrl, db);
  for (const svc of SCHEMAS) {
    await psql(url, `DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tm_${svc}') THEN
        CREATE ROLE tm_${svc} LOGIN;
        ALTER ROLE tm_${svc} SET search_path = ${svc};
      END IF;
    END $$;
    CREATE SCHEMA ${svc} AUTHORIZATION tm_${svc};
    REVOKE ALL ON SCHEMA public FROM tm_${svc};
    GRANT CONNECT ON DATABASE ${db} TO tm_${svc};`);
  }
  await psql(url, `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
  return url;
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Poll url until 200, failing at once when proc exits. */
async function waitHttp(url, proc, what, logFile, ms = READY_MS) {
  const until = Date.now() + ms;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) before it was ready; ${logFile}:\n${tail(logFile)}`);
    }
    try {
      if ((await httpGet(url)).status === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > until) throw new Error(`${what} not ready after ${ms} ms (${url}); ${logFile}:\n${tail(logFile)}`);
    await sleep(100);
  }
}

/**
 * Start a private cluster. services: any of task, realtime, ai, gateway (started in that
 * order, waited for together); env: extra TM_* per daemon.
 */
export async function startCluster({ name = 'cluster', services = DAEMONS, env = {} } = {}) {
  const adminUrl = process.env.TM_TEST_PG_URL;
  if (!adminUrl) throw new Error('TM_TEST_PG_URL is not set (postgres superuser URL of the test stack)');
  for (const s of services) if (!DAEMONS.includes(s)) throw new Error(`unknown service ${s}`);
  const bins = {};
  for (const s of services) {
    bins[s] = binDir(s, services);
    if (!bins[s]) throw new Error(`tm-${s} not found: build first or set TM_TEST_${s.toUpperCase()}_BIN`);
  }
  const tag = name.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 24);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tm-cluster-${tag}-`));
  fs.mkdirSync(path.join(dir, 'logs'));
  const ports = new Set();
  const port = async () => {
    for (;;) {
      const p = await freePort();
      if (!ports.has(p)) {
        ports.add(p);
        return p;
      }
    }
  };
  const nats = { port: await port(), mon: await port() };
  const httpPort = await port();
  const adminPorts = {};
  for (const s of DAEMONS) adminPorts[s] = await port();
  const db = `tmc_${tag}_${randomBytes(4).toString('hex')}`;
  const procs = {};
  let dbUrl = null;
  let keep = process.env.TM_TEST_CLUSTER_KEEP === '1';

  const logFile = (svc) => path.join(dir, 'logs', `${svc}.log`);
  const natsUrl = `nats://127.0.0.1:${nats.port}`;
  const pg = new URL(adminUrl);
  const keys = path.join(STATE, 'keys');

  function daemonEnv(svc) {
    const e = {
      TM_NATS_URL: natsUrl, TM_ADMIN_PORT: String(adminPorts[svc]), TM_LOG_LEVEL: 'info',
      TM_JWT_ISSUER: 'taskmesh', TM_JWT_AUDIENCE: 'taskmesh-api',
    };
    if (svc === 'gateway') {
      Object.assign(e, {
        TM_HTTP_HOST: '127.0.0.1', TM_HTTP_PORT: String(httpPort),
        TM_JWT_PUBLIC_KEY_FILE: path.join(keys, 'jwt-es256.pub.pem'), TM_GATEWAY_THREADS: '2',
      });
    } else {
      e.TM_PG_URL = `postgresql://tm_${svc}@${pg.host}/${db}`;
      e.TM_MIGRATIONS_DIR = path.join(ROOT, 'services', svc, 'migrations');
    }
    if (svc === 'task') e.TM_JWT_PRIVATE_KEY_FILE = path.join(keys, 'jwt-es256.pem');
    return { ...e, ...(env[svc] || {}) };
  }

  function spawnLogged(svc, cmd, args, extraEnv) {
    const fd = fs.openSync(logFile(svc), 'a');
    fs.writeSync(fd, `--- ${new Date().toISOString()} start ${cmd}\n`);
    const p = spawn(cmd, args, { env: { ...process.env, ...extraEnv }, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    p.exited = new Promise((resolve) => p.on('exit', (code, sig) => {
      live.delete(p);
      resolve({ code, sig });
    }));
    p.on('error', () => {});
    live.add(p);
    procs[svc] = p;
    return p;
  }

  function spawnNats() {
    const conf = path.join(dir, 'nats.conf');
    fs.mkdirSync(path.join(dir, 'nats'), { recursive: true });
    fs.writeFileSync(conf, `server_name: tmc-${tag}
listen: 127.0.0.1:${nats.port}
http: 127.0.0.1:${nats.mon}
max_payload: 8MB
jetstream {
  store_dir: "${path.join(dir, 'nats')}"
  max_memory_store: 64MB
  max_file_store: 1GB
}
`);
    return spawnLogged('nats', 'nats-server', ['-c', conf], {});
  }

  async function startOne(svc) {
    if (procs[svc] && procs[svc].exitCode === null && procs[svc].signalCode === null) {
      throw new Error(`${svc} is already running`);
    }
    if (svc === 'nats') {
      const p = spawnNats();
      // the full healthz also waits for JetStream streams and consumers to be recovered
      await waitHttp(`http://127.0.0.1:${nats.mon}/healthz`, p, 'nats-server', logFile('nats'));
      return;
    }
    if (!services.includes(svc)) throw new Error(`${svc} is not part of this cluster`);
    const p = spawnLogged(svc, bins[svc], [], daemonEnv(svc));
    await waitHttp(`http://127.0.0.1:${adminPorts[svc]}/readyz`, p, `tm-${svc}`, logFile(svc));
  }

  async function kill(svc, sig = 'SIGKILL') {
    const p = procs[svc];
    if (!p || p.exitCode !== null || p.signalCode !== null) throw new Error(`${svc} is not running`);
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), STOP_MS);
    const r = await p.exited;
    clearTimeout(t);
    return r;
  }

  const order = DAEMONS.filter((s) => services.includes(s));
  const cluster = {
    name, dir, base: `http://127.0.0.1:${httpPort}`, wsUrl: `ws://127.0.0.1:${httpPort}/ws`, natsUrl,
    natsMonUrl: `http://127.0.0.1:${nats.mon}`, pgUrl: null, adminPorts, services: order,
    kill,
    start: startOne,
    /** kill nats-server (SIGKILL, else SIGTERM), leave it down downMs, start it on the same
     * ports and JetStream store. */
    async restartNats({ kill9 = true, downMs = 0 } = {}) {
      await kill('nats', kill9 ? 'SIGKILL' : 'SIGTERM');
      if (downMs > 0) await sleep(downMs);
      await startOne('nats');
    },
    /** The pid of a running svc (for signals other than kill's, e.g. SIGSTOP), or null. */
    pid: (svc) => (procs[svc] && procs[svc].exitCode === null && procs[svc].signalCode === null ? procs[svc].pid : null),
    logTail: (svc, lines = 30) => tail(logFile(svc), lines),
    sql: (q) => psql(cluster.pgUrl, q),
    /** SIGTERM (SIGKILL after 15 s) every process it started, drop its database; throws
     * when a daemon log holds a sanitizer report. */
    async stop() {
      for (const s of [...[...order].reverse(), 'nats']) {
        const p = procs[s];
        if (p && p.exitCode === null && p.signalCode === null) await kill(s, 'SIGTERM');
      }
      if (dbUrl) await psql(adminUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      dbUrl = null;
      const bad = order.filter((s) => SANITIZER.test(fs.existsSync(logFile(s)) ? fs.readFileSync(logFile(s), 'utf8') : ''));
      if (bad.length) {
        throw new Error(`sanitizer report in ${bad.join(', ')} (logs kept in ${dir}):\n` +
          bad.map((s) => `--- ${s}\n${tail(logFile(s), 40)}`).join('\n'));
      }
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    dbUrl = await createDatabase(adminUrl, db);
    cluster.pgUrl = dbUrl;
    await startOne('nats');
    for (const s of order) spawnLogged(s, bins[s], [], daemonEnv(s));
    await Promise.all(order.map((s) => waitHttp(`http://127.0.0.1:${adminPorts[s]}/readyz`, procs[s], `tm-${s}`, logFile(s))));
  } catch (e) {
    const tails = ['nats', ...order].map((s) => `--- ${s}\n${tail(logFile(s), 15)}`).join('\n');
    keep = true;
    await cluster.stop().catch(() => {});
    e.message += `\n(cluster ${name}, logs in ${dir})\n${tails}`;
    throw e;
  }
  return cluster;
}

/** One HTTP call to a cluster's gateway (like client.mjs api, with a base URL). */
export async function apiAt(base, method, p, { token, body, headers = {}, timeout = 15000 } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(base + p, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}
