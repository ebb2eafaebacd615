// WebSocket helpers for the e2e tests: an npm `ws` client with a message inbox, and a raw
// RFC 6455 client over node:net for conformance tests (frames built by hand).
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { BASE_URL, WS_URL } from './client.mjs';

const WAIT_MS = Number(process.env.TM_TEST_WS_WAIT_MS || 8000);

/**
 * Open a WebSocket with the `ws` package. Resolves once open; rejects with the HTTP status
 * on a refused upgrade. The returned client keeps every server op in `inbox`.
 * @param {string} token
 * @param {{query?: string, viaQuery?: boolean}} opts
 */
export function openWs(token, { query = '', viaQuery = false } = {}) {
  const qs = [];
  if (viaQuery && token) qs.push(`access_token=${encodeURIComponent(token)}`);
  if (query) qs.push(query);
  const url = WS_URL + (qs.length ? `?${qs.join('&')}` : '');
  const headers = !viaQuery && token ? { authorization: `Bearer ${token}` } : {};
  const ws = new WebSocket(url, { headers });
  const client = new WsClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      const err = new Error(`upgrade refused: HTTP ${res.statusCode}`);
      err.status = res.statusCode;
      err.headers = res.headers;
      reject(err);
    });
    ws.once('error', reject);
  });
}

export class WsClient {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data) => {
      let op;
      try {
        op = JSON.parse(data.toString());
      } catch {
        op = { op: '<non-json>', raw: data.toString() };
      }
      this.inbox.push(op);
      for (const w of [...this.waiters]) w();
    });
    ws.on('error', () => {});
  }

  send(op) {
    this.ws.send(typeof op === 'string' ? op : JSON.stringify(op));
  }

  /** Wait for (and remove from the inbox) the first op matching pred. */
  next(pred, timeoutMs = WAIT_MS, what = 'op') {
    const match = typeof pred === 'string' ? (o) => o.op === pred : pred;
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.inbox.findIndex(match);
        if (i >= 0) {
          const [op] = this.inbox.splice(i, 1);
          this.waiters = this.waiters.filter((w) => w !== check);
          clearTimeout(timer);
          resolve(op);
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${typeof pred === 'string' ? pred : what}; inbox: ${JSON.stringify(this.inbox).slice(0, 800)}`));
      }, timeoutMs);
      this.waiters.push(check);
      check();
    });
  }

  /** Ops matching pred that arrive within ms (does not remove them). */
  async collect(pred, ms) {
    await sleep(ms);
    return this.inbox.filter(pred);
  }

  close() {
    try {
      this.ws.close(1000);
    } catch {
      /* already closed */
    }
    return this.closed;
  }

  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- raw RFC 6455

/** A masked (unless mask: false) client frame. */
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, declaredLen } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = declaredLen ?? data.length;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  let ext = Buffer.alloc(0);
  if (len < 126) {
    head.push((mask ? 0x80 : 0) | len);
  } else if (len < 65536) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, data]);
  const key = randomBytes(4);
  const masked = Buffer.from(data);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

export function closeFrame(code, reason = Buffer.alloc(0)) {
  const r = Buffer.isBuffer(reason) ? reason : Buffer.from(reason);
  const body = Buffer.alloc(2 + r.length);
  body.writeUInt16BE(code);
  r.copy(body, 2);
  return frame(0x8, body);
}

/**
 * Raw upgrade over TCP. Resolves {status, headers, sock, reader} where reader parses the
 * server's frames. headers: extra request headers (object); token: sent as Bearer.
 */
export function rawConnect({ token, headers = {}, path = '/ws', version = '13' } = {}) {
  const url = new URL(BASE_URL);
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
  ];
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  if (token) lines.push(`Authorization: Bearer ${token}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  const sock = net.connect(Number(url.port), url.hostname);
  const reader = new FrameReader(sock);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const head = buf.subarray(0, end).toString();
      const [statusLine, ...hl] = head.split('\r\n');
      const hdrs = {};
      for (const l of hl) {
        const i = l.indexOf(':');
        hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const status = Number(statusLine.split(' ')[1]);
      reader.start(buf.subarray(end + 4));
      resolve({ status, headers: hdrs, sock, reader });
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(lines.join('\r\n') + '\r\n\r\n');
  });
}

/** Parses server frames (unmasked, unfragmented) from a socket. */
export class FrameReader {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    this.endedPromise = new Promise((resolve) => {
      sock.on('close', () => {
        this.ended = true;
        for (const w of [...this.waiters]) w();
        resolve();
      });
    });
  }

  start(initial) {
    this.buf = Buffer.from(initial);
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    this.parse();
  }

  parse() {
    for (;;) {
      if (this.buf.length < 2) break;
      const op = this.buf[0] & 0x0f;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) break;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      const f = { opcode: op, fin: (this.buf[0] & 0x80) !== 0, payload };
      if (op === 0x8) {
        f.code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        f.reason = payload.subarray(2).toString();
        this.sock.end(); // like a real client: answer the close by ending our side
      }
      if (op === 0x1) f.json = safeJson(payload.toString());
      this.frames.push(f);
    }
    for (const w of [...this.waiters]) w();
  }

  /** Wait for the first frame matching pred (removed). Rejects on timeout or socket end. */
  next(pred = () => true, timeoutMs = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex(pred);
        if (i >= 0) {
          const [f] = this.frames.splice(i, 1);
          done();
          resolve(f);
        } else if (this.ended) {
          done();
          reject(new Error(`socket ended; frames left: ${JSON.stringify(this.frames.map((x) => x.opcode))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error('timed out waiting for a frame'));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  /** The close frame the server sends (code, reason). */
  closeFrame(timeoutMs = WAIT_MS) {
    return this.next((f) => f.opcode === 0x8, timeoutMs);
  }
}

function safeJson(s) {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- other gateways

/**
 * openWs against another gateway (a private cluster's or one started by procs.mjs):
 * url is its ws://host:port/ws. Same options and result as openWs.
 */
export function openWsUrl(url, token, { query = '', viaQuery = false } = {}) {
  const qs = [];
  if (viaQuery && token) qs.push(`access_token=${encodeURIComponent(token)}`);
  if (query) qs.push(query);
  const headers = !viaQuery && token ? { authorization: `Bearer ${token}` } : {};
  const ws = new WebSocket(url + (qs.length ? `?${qs.join('&')}` : ''), { headers, handshakeTimeout: WAIT_MS });
  const client = new WsClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      const err = new Error(`upgrade refused: HTTP ${res.statusCode}`);
      err.status = res.statusCode;
      err.headers = res.headers;
      req.destroy(); // with this listener set, ws leaves the refused request to us
      reject(err);
    });
    ws.once('error', reject);
  });
}
