// faultproxy.mjs: a TCP proxy with a "blackhole" fault, for tm-realtime <-> nats-server.
//   node faultproxy.mjs LISTEN_PORT TARGET_PORT CONTROL_PORT
// Control (HTTP on 127.0.0.1:CONTROL_PORT): GET /blackhole/on, /blackhole/off, /state.
// Blackhole = bytes in both directions are read and dropped, sockets stay open (nothing is
// closed, nothing is reset), as when a link silently stops carrying packets. New connections
// are accepted meanwhile and blackholed too. Every buffer is bounded: a side that cannot
// keep up is paused (backpressure), never buffered without limit.
import net from 'node:net';
import http from 'node:http';

const [listenPort, targetPort, ctlPort] = process.argv.slice(2).map(Number);
if (!listenPort || !targetPort || !ctlPort) {
  console.error('usage: faultproxy.mjs LISTEN_PORT TARGET_PORT CONTROL_PORT');
  process.exit(2);
}
let blackhole = false;
let dropped = 0;
const conns = new Set();

function pipe(from, to) {
  from.on('data', (chunk) => {
    if (blackhole) {
      dropped += chunk.length;
      return;
    }
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
  from.on('close', () => to.destroy());
}

net
  .createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    conns.add(pair);
    client.on('close', () => conns.delete(pair));
    pipe(client, upstream);
    pipe(upstream, client);
  })
  .listen(listenPort, '127.0.0.1');

http
  .createServer((req, res) => {
    if (req.url === '/blackhole/on') blackhole = true;
    else if (req.url === '/blackhole/off') blackhole = false;
    else if (req.url !== '/state') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ blackhole, connections: conns.size, dropped }));
  })
  .listen(ctlPort, '127.0.0.1');
