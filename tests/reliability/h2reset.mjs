// h2reset.mjs PORT COUNT: HTTP/2 "rapid reset" (CVE-2023-44487 shape) against 127.0.0.1:PORT,
// h2c with prior knowledge: open a stream (GET /healthz) and reset it at once (RST_STREAM
// CANCEL), COUNT times, on as few sessions as the server allows. Runs in its own process so
// that its busy loop does not delay the healthy client measured by dos.mjs.
// The gateway answers a flood with GOAWAY ENHANCE_YOUR_CALM and closes the session: the
// next session starts. Prints one JSON line {streams, sessions, goaway, calm, unanswered,
// ms}: calm = sessions that got GOAWAY with ENHANCE_YOUR_CALM, unanswered = sessions that
// sent over 300 streams and never got a GOAWAY. Bounded: 30 s.
import http2 from 'node:http2';

const port = Number(process.argv[2]);
const count = Number(process.argv[3] || 10000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let streams = 0, goaway = 0, sessions = 0, calm = 0, unanswered = 0;
const t0 = Date.now();
while (streams < count && Date.now() - t0 < 30000) {
  const c = http2.connect(`http://127.0.0.1:${port}`);
  sessions++;
  c.on('error', () => {});
  let code = null;
  c.on('goaway', (errorCode) => {
    if (code !== null) return;
    code = errorCode;
    goaway++;
    if (errorCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) calm++;
  });
  const sent0 = streams;
  await new Promise((r) => { c.once('connect', r); c.once('error', r); c.once('close', r); setTimeout(r, 2000); });
  if (c.destroyed) { await sleep(50); continue; }
  for (let i = 0; streams < count && !c.destroyed && !c.closed; i++) {
    try {
      const req = c.request({ ':path': '/healthz' });
      req.on('error', () => {});
      req.close(http2.constants.NGHTTP2_CANCEL);
      streams++;
    } catch {
      break;
    }
    if (i % 200 === 199) await sleep(1);
  }
  await sleep(100);
  if (code === null && streams - sent0 > 300) unanswered++;
  c.destroy();
}
console.log(JSON.stringify({ streams, sessions, goaway, calm, unanswered, ms: Date.now() - t0 }));
