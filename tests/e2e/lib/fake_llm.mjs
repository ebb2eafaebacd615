// A fake OpenAI-compatible chat-completions server for tm-ai tests (Node http, no deps).
//
// POST <any>/chat/completions answers according to the current mode:
//   valid      200 with a well-formed {"suggestions":[...]} JSON content
//   malformed  200 whose content is not JSON
//   badshape   200 whose content is JSON of the wrong shape
//   slow       waits `delayMs` (default 5000) before a valid answer
//   error      500
//   huge       200 with a ~10 MB body
// Control: GET /control?mode=<mode>[&delayMs=n]  -> {"mode"}
//          GET /stats -> {"requests": n, "last": <last request body as JSON or null>,
//                         "last_headers": {...}}
// Run standalone: node fake_llm.mjs <port>   (prints "fake-llm listening <port>")
import http from 'node:http';
import { fileURLToPath } from 'node:url';

function validContent(req) {
  return JSON.stringify({
    suggestions: [{
      kind: 'new_task', title: 'Plan the week', reason: 'You asked for a plan',
      confidence: 0.8, estimated_minutes: 30, difficulty: 'easy', task_id: null,
      tasks: [{ title: 'Write weekly plan', estimate_minutes: 30, priority: 2 }],
    }, {
      kind: 'focus', title: 'Focus on overdue work', reason: 'Two tasks are overdue',
      confidence: 0.6, estimated_minutes: 90, difficulty: 'medium', tasks: [],
    }],
  });
}

function completion(content) {
  return JSON.stringify({
    id: 'chatcmpl-fake', object: 'chat.completion', model: 'fake-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 },
  });
}

export function startFakeLlm({ port = 0, host = '127.0.0.1' } = {}) {
  const state = { mode: 'valid', delayMs: 5000, requests: 0, last: null, lastHeaders: null };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'GET' && url.pathname === '/control') {
      state.mode = url.searchParams.get('mode') || state.mode;
      if (url.searchParams.get('delayMs')) state.delayMs = Number(url.searchParams.get('delayMs'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ mode: state.mode }));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/stats') {
      const body = JSON.stringify({ requests: state.requests, last: state.last,
                                    last_headers: state.lastHeaders, mode: state.mode });
      res.writeHead(200, { 'content-type': 'application/json',
                           'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (req.method !== 'POST' || !url.pathname.endsWith('/chat/completions')) {
      res.writeHead(404); res.end(); return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      try { state.last = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { state.last = null; }
      state.lastHeaders = req.headers;
      answer(state, res);
    });
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => resolve({
      server, state, port: server.address().port,
      setMode(mode, delayMs) { state.mode = mode; if (delayMs) state.delayMs = delayMs; },
      close() { return new Promise((r) => { server.closeAllConnections?.(); server.close(r); }); },
    }));
  });
}

function send(res, status, body) {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function answer(state, res) {
  switch (state.mode) {
    case 'malformed': return send(res, 200, completion('Sure! Here are some ideas: {not json'));
    case 'badshape': return send(res, 200, completion(JSON.stringify({ suggestions: [{ kind: 'dance', title: 5 }] })));
    case 'error': return send(res, 500, JSON.stringify({ error: { message: 'boom' } }));
    case 'slow': { const t = setTimeout(() => send(res, 200, completion(validContent())), state.delayMs);
      res.on('close', () => clearTimeout(t)); return; }
    case 'huge': {
      const filler = 'x'.repeat(10 * 1024 * 1024);
      return send(res, 200, completion(JSON.stringify({ suggestions: [], pad: filler })));
    }
    default: return send(res, 200, completion(validContent()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || 0);
  startFakeLlm({ port }).then((f) => console.log(`fake-llm listening ${f.port}`));
}
