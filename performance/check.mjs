// What can be checked of the k6 script without k6 (not installed here):
//
// 1. load-test.js parses (`node --check` of a copy with the k6 imports
//    removed and k6's globals declared);
// 2. its signing and order code (lib/flowex.js), run with Node's HMAC
//    instead of k6/crypto, makes requests a real FlowEx accepts: a signed
//    POST (form body), GET and DELETE (query), and a tampered signature
//    refused with -1022.
//
//   node performance/check.mjs http://127.0.0.1:8080    # a running `flowex up`

import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { request, decimal, units, limitOrder, lotsFor } from './lib/flowex.js';

const here = dirname(fileURLToPath(import.meta.url));
const base = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/$/, '');
const hmacHex = (secret, text) => createHmac('sha256', secret).update(text).digest('hex');

function scriptParses() {
  const source = readFileSync(join(here, 'load-test.js'), 'utf8');
  const stripped = source
    .split('\n')
    .filter((l) => !/^import .* from 'k6(\/[a-z]+)?';$/.test(l))
    .join('\n')
    .replace("from './lib/flowex.js'", `from ${JSON.stringify(join(here, 'lib/flowex.js'))}`);
  assert.ok(!/from 'k6/.test(stripped), 'every k6 import is stripped');
  const prelude = 'const __ENV = {}, __VU = 1; let http, ws, crypto, check, sleep, Counter;\n';
  const file = join(mkdtempSync(join(tmpdir(), 'k6-check-')), 'load-test.mjs');
  writeFileSync(file, prelude + stripped);
  const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `load-test.js does not parse:\n${r.stderr}`);
}

function decimalsAreExact() {
  assert.equal(decimal(6400000, 2), '64000.00');
  assert.equal(decimal(8, 5), '0.00008');
  assert.equal(units('64000.12000000', 2), 6400012);
  assert.equal(units('0.001', 2), null);
  assert.equal(lotsFor(6400000, 1, 5 * 10 ** 7), 8);
}

async function call(r) {
  const res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body ?? undefined });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function native(path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return call({ method: 'POST', url: `${base}${path}`, headers, body: JSON.stringify(body) });
}

async function trader() {
  const email = `k6-check-${Date.now()}@example.com`;
  const password = 'k6 check long passphrase';
  assert.equal((await native('/api/v1/auth/register', { email, password })).status, 201);
  const login = await native('/api/v1/auth/login', { email, password });
  assert.equal(login.status, 200);
  const token = login.json.access_token;
  const key = await native('/api/v1/account/api-keys', { label: 'k6', permissions: ['READ', 'TRADE'] }, token);
  assert.equal(key.status, 201, JSON.stringify(key.json));
  assert.equal((await native('/api/v1/wallet/faucet', { asset: 'USDT' }, token)).status, 201);
  return { apiKey: key.json.api_key, secret: key.json.secret };
}

async function signedRequestsAreAccepted() {
  const key = await trader();
  const send = (method, path, params) => call(request(base, method, path, params, key, hmacHex, Date.now()));
  // A bid far below any price: it rests.
  const order = limitOrder('BTCUSDT', true, 3000000, 0, lotsFor(3000000, 1, 5 * 10 ** 7), 2, 5);
  const placed = await send('POST', '/api/v3/order', order);
  assert.equal(placed.status, 200, JSON.stringify(placed.json));
  assert.equal(placed.json.status, 'NEW');
  const open = await send('GET', '/api/v3/openOrders', { symbol: 'BTCUSDT' });
  assert.equal(open.status, 200, JSON.stringify(open.json));
  assert.deepEqual(open.json.map((o) => o.orderId), [placed.json.orderId]);
  const cancelled = await send('DELETE', '/api/v3/order', { symbol: 'BTCUSDT', orderId: placed.json.orderId });
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
  assert.equal(cancelled.json.status, 'CANCELED');
  const r = request(base, 'GET', '/api/v3/account', {}, key, hmacHex, Date.now());
  r.url = r.url.replace(/signature=([0-9a-f])/, (_, c) => `signature=${c === '0' ? '1' : '0'}`);
  const tampered = await call(r);
  assert.equal(tampered.status, 400);
  assert.equal(tampered.json.code, -1022);
}

scriptParses();
decimalsAreExact();
await signedRequestsAreAccepted();
console.log('k6 script checks passed (k6 itself is not installed here: the scenarios were not run)');
