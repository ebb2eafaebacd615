// RFC 6455 conformance of GET /ws through the real gateway, with frames built by hand over
// node:net (tests/e2e/lib/ws.mjs). Needs only the gateway and tm-task (for a token);
// tm-realtime answers connect but no test here depends on it.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { registerAndLogin, api, BASE_URL } from './lib/client.mjs';
import { rawConnect, frame, closeFrame, openWs, sleep } from './lib/ws.mjs';

// A text frame that answers the client: broadcasts that every socket may receive at any
// time (an active announcement, presence) are not answers.
const BROADCAST_OPS = new Set(['announcement', 'presence']);
function isReply(f) {
  if (f.opcode !== 0x1) return false;
  try {
    return !BROADCAST_OPS.has(JSON.parse(f.payload.toString()).op);
  } catch {
    return true;
  }
}

let user;
before(async () => {
  user = await registerAndLogin('wsconf');
});

async function open() {
  const c = await rawConnect({ token: user.access_token });
  assert.equal(c.status, 101);
  const hello = await c.reader.next(isReply);
  assert.equal(hello.json.op, 'hello');
  return c;
}

async function expectClose(c, code) {
  const f = await c.reader.closeFrame();
  assert.equal(f.code, code, `close code (reason: ${f.reason})`);
  await c.reader.endedPromise; // the server then closes the TCP connection
  return f;
}

test('handshake: 101 with the right accept key, hello first', async () => {
  const c = await open();
  assert.match(c.headers['sec-websocket-accept'], /^[A-Za-z0-9+/]{27}=$/);
  c.sock.destroy();
});

test('handshake: version 12 -> 426 with Sec-WebSocket-Version: 13', async () => {
  const c = await rawConnect({ token: user.access_token, version: '12' });
  assert.equal(c.status, 426);
  assert.equal(c.headers['sec-websocket-version'], '13');
  c.sock.destroy();
});

test('handshake: missing or bad token -> 401 before any upgrade', async () => {
  const none = await rawConnect({});
  assert.equal(none.status, 401);
  none.sock.destroy();
  const bad = await rawConnect({ token: user.access_token.slice(0, -4) + 'AAAA' });
  assert.equal(bad.status, 401);
  bad.sock.destroy();
  const plain = await api('GET', '/ws');
  assert.ok([401, 426].includes(plain.status), `plain GET /ws: ${plain.status}`);
});

test('handshake: token in the access_token query parameter works and is masked in the log', async () => {
  const ws = await openWs(user.access_token, { viaQuery: true });
  const hello = await ws.next('hello');
  assert.equal(hello.user_id, user.user.id);
  await ws.close();
});

test('ping frame -> pong with the same payload; ping op -> pong op', async () => {
  const c = await open();
  c.sock.write(frame(0x9, 'abc'));
  const pong = await c.reader.next((f) => f.opcode === 0xa);
  assert.equal(pong.payload.toString(), 'abc');
  c.sock.write(frame(0x1, JSON.stringify({ op: 'ping', id: 'x1' })));
  const op = await c.reader.next(isReply);
  assert.deepEqual(op.json, { op: 'pong', id: 'x1' });
  c.sock.destroy();
});

test('fragmented text message with an interleaved ping is reassembled', async () => {
  const c = await open();
  const msg = Buffer.from(JSON.stringify({ op: 'ping', id: 42 }));
  c.sock.write(frame(0x1, msg.subarray(0, 5), { fin: false }));
  c.sock.write(frame(0x9, 'mid'));
  c.sock.write(frame(0x0, msg.subarray(5, 9), { fin: false }));
  c.sock.write(frame(0x0, msg.subarray(9), { fin: true }));
  const pong = await c.reader.next((f) => f.opcode === 0xa);
  assert.equal(pong.payload.toString(), 'mid');
  const op = await c.reader.next(isReply);
  assert.deepEqual(op.json, { op: 'pong', id: 42 });
  c.sock.destroy();
});

test('unmasked client frame -> 1002', async () => {
  const c = await open();
  c.sock.write(frame(0x1, '{"op":"ping"}', { mask: false }));
  await expectClose(c, 1002);
});

test('reserved bits -> 1002', async () => {
  const c = await open();
  c.sock.write(frame(0x1, '{"op":"ping"}', { rsv: 4 }));
  await expectClose(c, 1002);
});

test('reserved opcodes -> 1002', async () => {
  for (const op of [0x3, 0xb]) {
    const c = await open();
    c.sock.write(frame(op, 'x'));
    await expectClose(c, 1002);
  }
});

test('continuation without a start, and fragmented control frame -> 1002', async () => {
  const c = await open();
  c.sock.write(frame(0x0, 'x'));
  await expectClose(c, 1002);
  const d = await open();
  d.sock.write(frame(0x9, 'x', { fin: false }));
  await expectClose(d, 1002);
});

test('invalid UTF-8 in a text message -> 1007', async () => {
  const c = await open();
  c.sock.write(frame(0x1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d])));
  await expectClose(c, 1007);
});

test('invalid UTF-8 in a close reason -> 1007', async () => {
  const c = await open();
  c.sock.write(closeFrame(1000, Buffer.from([0xff, 0xfe])));
  await expectClose(c, 1007);
});

test('invalid close codes -> 1002; a valid one is echoed', async () => {
  for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) {
    const c = await open();
    c.sock.write(closeFrame(code));
    await expectClose(c, 1002);
  }
  const ok = await open();
  ok.sock.write(closeFrame(4000, 'bye'));
  await expectClose(ok, 4000);
});

test('binary message -> 1003', async () => {
  const c = await open();
  c.sock.write(frame(0x2, Buffer.from([1, 2, 3])));
  await expectClose(c, 1003);
});

test('oversize message -> 1009 (declared length over the cap, and fragments adding up)', async () => {
  const c = await open();
  c.sock.write(frame(0x1, Buffer.alloc(0), { declaredLen: 70 * 1024 }));
  await expectClose(c, 1009);
  const d = await open();
  const part = Buffer.alloc(40 * 1024, 0x20);
  d.sock.write(frame(0x1, part, { fin: false }));
  d.sock.write(frame(0x0, part, { fin: true }));
  await expectClose(d, 1009);
});

test('a frame that declares a length and never sends it is closed on a deadline', async () => {
  const c = await open();
  const t0 = Date.now();
  c.sock.write(frame(0x1, Buffer.alloc(0), { declaredLen: 60000 }).subarray(0, 8)); // header only
  const f = await c.reader.closeFrame(30000);
  assert.equal(f.code, 1008);
  assert.ok(Date.now() - t0 < 30000);
});

test('malformed op JSON -> error op, the socket stays open', async () => {
  const c = await open();
  c.sock.write(frame(0x1, '{"op":'));
  const e1 = await c.reader.next(isReply);
  assert.equal(e1.json.op, 'error');
  assert.equal(e1.json.code, 'invalid_json');
  c.sock.write(frame(0x1, '{"op":"subscribe","room":"nope"}'));
  const e2 = await c.reader.next(isReply);
  assert.equal(e2.json.code, 'invalid_op');
  assert.equal(e2.json.failed_op, 'subscribe');
  c.sock.write(frame(0x1, '{"op":"ping","id":1}'));
  const pong = await c.reader.next(isReply);
  assert.equal(pong.json.op, 'pong');
  c.sock.destroy();
});

test('repeated refused ops -> 1008', async () => {
  const c = await open();
  for (let i = 0; i < 7; i++) c.sock.write(frame(0x1, '{"op":"nope"}'));
  await expectClose(c, 1008);
});

test('ops rate limit: a burst beyond the bucket answers rate_limited', async () => {
  const ws = await openWs(user.access_token);
  await ws.next('hello');
  for (let i = 0; i < 60; i++) ws.send({ op: 'ping', id: i });
  const limited = await ws.next((o) => o.op === 'error' && o.code === 'rate_limited');
  assert.equal(limited.code, 'rate_limited');
  const pongs = ws.inbox.filter((o) => o.op === 'pong').length;
  assert.ok(pongs >= 20 && pongs < 60, `pongs before the limit: ${pongs}`);
  const closed = await ws.closed; // more than 5 refusals in 60 s: policy close
  assert.equal(closed.code, 1008);
});

test('the server pings an idle client and closes a silent one', { timeout: 60000 }, async () => {
  const c = await open();
  const ping = await c.reader.next((f) => f.opcode === 0x9, 40000);
  assert.equal(ping.payload.length, 0);
  const f = await c.reader.closeFrame(60000);
  assert.equal(f.code, 1001);
});

test('metrics expose the WebSocket counters', async () => {
  const port = Number(process.env.TM_TEST_GATEWAY_ADMIN_PORT || 19100);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  assert.match(text, /tm_ws_connections/);
  assert.match(text, /tm_ws_closed_total\{code="1002"\} [1-9]/);
  assert.match(text, /tm_ws_messages_sent_total [1-9]/);
  await sleep(1);
});
