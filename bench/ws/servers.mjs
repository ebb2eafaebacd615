// Reference broadcast servers for bench/ws: `node servers.mjs ws|socketio PORT`.
// POST /broadcast with a JSON body sends it to every connected client (one encode, like
// tm-gateway's shared frames); GET /count answers the number of clients.
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { Server } from 'socket.io';

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);
let count = () => 0;
let broadcast = () => {};

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/broadcast') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      broadcast(Buffer.concat(chunks).toString());
      res.end('ok');
    });
  } else if (req.url === '/count') {
    res.end(String(count()));
  } else if (kind === 'ws' || !req.url.startsWith('/socket.io')) {
    res.statusCode = 404;
    res.end();
  }
});

if (kind === 'ws') {
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
  count = () => wss.clients.size;
  broadcast = (text) => {
    for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(text);
  };
} else {
  const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
  count = () => io.engine.clientsCount;
  broadcast = (text) => io.emit('m', text);
}
server.listen(port, '127.0.0.1');
