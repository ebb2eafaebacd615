// /metrics of every daemon of the test stack carries the families issue #7 asks for:
// request counts and latency histograms per route/subject and status, in-flight, NATS
// connection state and reconnects, JetStream consumer lag, Postgres pool use, cache
// figures, WebSocket connections (LLM calls and breaker state: ai_llm.test.mjs, where a
// provider is configured). Values are checked where
// the test can know them (pool size = workers, a request just made is counted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { adminPorts, registerAndLogin, api, expectStatus } from './lib/client.mjs';

/** GET /metrics without keep-alive -> Map(series -> number), series with its labels. */
function scrape(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const m = new Map();
        for (const line of text.split('\n')) {
          if (!line || line.startsWith('#')) continue;
          const i = line.lastIndexOf(' ');
          m.set(line.slice(0, i), Number(line.slice(i + 1)));
        }
        resolve(m);
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('metrics timeout')));
  });
}

const family = (m, name) => [...m.keys()].filter((k) => k === name || k.startsWith(`${name}{`));
function has(m, name, what) {
  assert.ok(family(m, name).length > 0, `${what}: no ${name} in /metrics`);
}

test('every daemon exports the operational metric families', async () => {
  const ports = adminPorts();
  const u = await registerAndLogin('metrics');
  expectStatus(await api('GET', '/api/v1/me', { token: u.access_token }), 200);
  // one request to each service, so that its per-subject series exist
  expectStatus(await api('GET', '/api/v1/notifications', { token: u.access_token }), 200);
  expectStatus(await api('POST', '/api/v1/ai/parse', { token: u.access_token, body: { text: 'call Bob tomorrow' } }), 200);

  const gw = await scrape(ports.gateway);
  for (const n of ['tm_http_requests_total', 'tm_http_request_seconds_bucket', 'tm_http_inflight',
    'tm_nats_connected', 'tm_cache_hits_total', 'tm_cache_misses_total', 'tm_cache_entries',
    'tm_ws_connections', 'tm_http_rate_limited_total']) has(gw, n, 'gateway');
  const meCount = family(gw, 'tm_http_requests_total').filter((k) => k.includes('/api/v1/me') && k.includes('200'));
  assert.ok(meCount.length > 0 && meCount.some((k) => gw.get(k) >= 1), `GET /api/v1/me 200 counted: ${meCount}`);

  const health = await api('GET', '/api/v1/health');
  for (const svc of ['task', 'realtime', 'ai']) {
    const m = await scrape(ports[svc]);
    for (const n of ['tm_svc_requests_total', 'tm_svc_request_seconds_bucket', 'tm_svc_queue_depth',
      'tm_nats_connected', 'tm_pg_up', 'tm_pg_pool_size', 'tm_pg_pool_in_use']) has(m, n, svc);
    const workers = health.json?.services?.[svc]?.workers;
    if (Number.isInteger(workers)) assert.equal(m.get('tm_pg_pool_size'), workers, `${svc} pool size = workers`);
    assert.ok(m.get('tm_pg_pool_in_use') >= 0 && m.get('tm_pg_pool_in_use') <= m.get('tm_pg_pool_size'));
    assert.equal(m.get('tm_nats_connected'), 1, `${svc} connected to NATS`);
    if (svc === 'task') {
      has(m, 'tm_relay_backlog', svc);
      const me = family(m, 'tm_svc_requests_total').filter((k) => k.includes('tm.v1.auth.me'));
      assert.ok(me.some((k) => m.get(k) >= 1), `tm.v1.auth.me counted: ${me}`);
    }
    if (svc === 'realtime') has(m, 'tm_rt_consumer_lag', svc);
    // LLM calls and breaker state exist when a provider is configured: ai_llm.test.mjs
    if (svc === 'ai') has(m, 'tm_ai_consumer_lag', svc);
  }
});
