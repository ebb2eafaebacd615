// Smoke: the gateway is up and answers /healthz with 200 JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, uniq } from './lib/client.mjs';

test('gateway /healthz answers 200 with a JSON object', async () => {
  const res = await api('GET', '/healthz');
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type') || '', /json/);
  assert.equal(typeof res.json, 'object');
  assert.notEqual(res.json, null);
});

test('uniq() gives distinct ids', () => {
  assert.notEqual(uniq(), uniq());
});
