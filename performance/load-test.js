// k6 load test of FlowEx: the real API with real Binance-style signing.
//
//   k6 run performance/load-test.js                        # every scenario, one after the other
//   k6 run -e SCENARIO=spike performance/load-test.js      # one of them
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e USERS=20 -e RATE=50 performance/load-test.js
//
// Scenarios: baseline (constant arrival rate), spike (a 10x burst),
// stress (arrival rate stepped up until it breaks), websocket (market
// streams, /ws/<symbol>@trade), trading_simulation (traders who look at
// the book, place, check and cancel, with think time).
//
// setup() makes USERS fresh accounts through the public API (register,
// log in, API key with READ and TRADE, faucet of the quote and base
// assets), so run it against `flowex up` (the faucet is embedded mode's);
// raise the server's order limits for high rates
// (FLOWEX_RATE_LIMITS__ORDERS_PER_10S, __IP_WEIGHT_PER_MINUTE: every
// virtual user comes from one IP). Prices are integers (ticks) turned into
// decimal strings; nothing here does floating-point money.
//
// `flowex loadgen` does the same in Rust with an open loop free of
// coordinated omission; this script is for teams that already run k6.

import http from 'k6/http';
import ws from 'k6/ws';
import crypto from 'k6/crypto';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { request, limitOrder, lotsFor, units, decimal } from './lib/flowex.js';

const BASE = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const WS_BASE = BASE.replace(/^http/, 'ws');
const USERS = parseInt(__ENV.USERS || '10', 10);
const RATE = parseInt(__ENV.RATE || '50', 10);
const SYMBOL = __ENV.SYMBOL || 'BTCUSDT';
// BTCUSDT of `flowex up`: tick 0.01, step 0.00001, minimum notional 5 USDT
// (5 * 10^7 units at 2 + 5 decimals).
const TICK_SCALE = 2;
const STEP_SCALE = 5;
const MIN_NOTIONAL_UNITS = 5 * 10 ** 7;
const START_PRICE = __ENV.PRICE || '64000';

const refused = new Counter('flowex_refused');
const streamed = new Counter('flowex_ws_messages');

const ALL_SCENARIOS = {
  baseline: {
    executor: 'constant-arrival-rate', exec: 'trade', rate: RATE, timeUnit: '1s',
    duration: '1m', preAllocatedVUs: 20, maxVUs: 100, startTime: '0s',
  },
  spike: {
    executor: 'ramping-arrival-rate', exec: 'trade', startRate: RATE, timeUnit: '1s',
    preAllocatedVUs: 50, maxVUs: 500, startTime: '1m',
    stages: [
      { target: RATE, duration: '20s' },
      { target: RATE * 10, duration: '5s' },
      { target: RATE * 10, duration: '10s' },
      { target: RATE, duration: '5s' },
      { target: RATE, duration: '20s' },
    ],
  },
  stress: {
    executor: 'ramping-arrival-rate', exec: 'trade', startRate: RATE, timeUnit: '1s',
    preAllocatedVUs: 100, maxVUs: 1000, startTime: '2m',
    stages: [2, 4, 8, 16].map((k) => ({ target: RATE * k, duration: '30s' })),
  },
  websocket: {
    executor: 'constant-vus', exec: 'streams', vus: 10, duration: '1m', startTime: '4m',
  },
  trading_simulation: {
    executor: 'constant-vus', exec: 'simulate', vus: Math.max(1, USERS), duration: '2m', startTime: '4m',
  },
};

// One scenario alone starts at once.
function scenarios() {
  const only = __ENV.SCENARIO;
  if (!only) return ALL_SCENARIOS;
  if (!ALL_SCENARIOS[only]) throw new Error(`unknown SCENARIO ${only}`);
  return { [only]: Object.assign({}, ALL_SCENARIOS[only], { startTime: '0s' }) };
}

export const options = {
  scenarios: scenarios(),
  thresholds: {
    // Refusals other than the mix's own races (a cancel of an order
    // already filled) mean something is wrong; latency is reported, not judged.
    checks: ['rate>0.95'],
  },
};

const hmacHex = (secret, text) => crypto.hmac('sha256', secret, text, 'hex');

function send(method, path, params, key) {
  const r = request(BASE, method, path, params, key, hmacHex, Date.now());
  const res = http.request(r.method, r.url, r.body, { headers: r.headers, tags: { name: `${method} ${path}` } });
  if (res.status >= 400) refused.add(1, { code: String(res.json('code') || res.status) });
  return res;
}

function postJson(path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return http.post(`${BASE}${path}`, JSON.stringify(body), { headers });
}

// One fresh, funded trader with an API key.
function makeTrader(i, run) {
  const email = `k6-${run}-${i}@example.com`;
  const password = `k6 load test ${run} ${i} passphrase`;
  const reg = postJson('/api/v1/auth/register', { email, password });
  if (reg.status !== 201) throw new Error(`register ${email}: ${reg.status} ${reg.body}`);
  const login = postJson('/api/v1/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login ${email}: ${login.status} ${login.body}`);
  const token = login.json('access_token');
  const key = postJson('/api/v1/account/api-keys', { label: 'k6', permissions: ['READ', 'TRADE'] }, token);
  if (key.status !== 201) throw new Error(`api key ${email}: ${key.status} ${key.body}`);
  for (const asset of ['USDT', 'BTC']) {
    const f = postJson('/api/v1/wallet/faucet', { asset }, token);
    if (f.status !== 201) throw new Error(`faucet ${asset} for ${email}: ${f.status} ${f.body}`);
  }
  return { apiKey: key.json('api_key'), secret: key.json('secret') };
}

function startTicks() {
  const t = http.get(`${BASE}/api/v3/ticker/price?symbol=${SYMBOL}`);
  const last = t.status === 200 ? units(t.json('price'), TICK_SCALE) : null;
  return last && last > 0 ? last : units(START_PRICE, TICK_SCALE);
}

export function setup() {
  const run = `${Date.now().toString(36)}`;
  const traders = [];
  for (let i = 0; i < USERS; i++) traders.push(makeTrader(i, run));
  return { traders, mid: startTicks() };
}

// Per virtual user (each has its own copy of module state): its resting orders.
const resting = [];

function trader(data) {
  return data.traders[(__VU - 1) % data.traders.length];
}

function place(key, mid) {
  const buy = Math.random() < 0.5;
  const depth = Math.random() < 0.1 ? -2 : 1 + Math.floor(Math.random() * 10);
  const lots = lotsFor(mid, 1 + Math.floor(Math.random() * 3), MIN_NOTIONAL_UNITS);
  const res = send('POST', '/api/v3/order', limitOrder(SYMBOL, buy, mid, depth, lots, TICK_SCALE, STEP_SCALE), key);
  check(res, { 'order accepted': (r) => r.status === 200 });
  if (res.status === 200 && ['NEW', 'PARTIALLY_FILLED'].includes(res.json('status'))) {
    resting.push(res.json('orderId'));
  }
}

function cancelOldest(key) {
  const id = resting.shift();
  const res = send('DELETE', '/api/v3/order', { symbol: SYMBOL, orderId: id }, key);
  // -2011: the order was filled meanwhile, a race of the mix, not a failure.
  check(res, { 'cancel answered': (r) => r.status === 200 || r.json('code') === -2011 });
}

// baseline, spike, stress: one request of the mix per iteration.
export function trade(data) {
  const key = trader(data);
  const mid = data.mid + Math.floor(Math.random() * 21) - 10;
  const roll = Math.random();
  if (roll < 0.55 || (roll < 0.75 && resting.length === 0)) {
    place(key, mid);
  } else if (roll < 0.75) {
    cancelOldest(key);
  } else if (roll < 0.8) {
    const lots = lotsFor(mid, 1, MIN_NOTIONAL_UNITS);
    const res = send('POST', '/api/v3/order', {
      symbol: SYMBOL, side: Math.random() < 0.5 ? 'BUY' : 'SELL', type: 'MARKET',
      quantity: decimal(lots, STEP_SCALE),
    }, key);
    check(res, { 'market order answered': (r) => r.status === 200 || r.status === 400 });
  } else if (roll < 0.85) {
    check(send('GET', '/api/v3/openOrders', { symbol: SYMBOL }, key), { 'open orders': (r) => r.status === 200 });
  } else if (roll < 0.9) {
    check(send('GET', '/api/v3/account', { omitZeroBalances: 'true' }, key), { account: (r) => r.status === 200 });
  } else if (roll < 0.95) {
    check(send('GET', '/api/v3/depth', { symbol: SYMBOL, limit: 20 }), { depth: (r) => r.status === 200 });
  } else {
    check(send('GET', '/api/v3/ticker/24hr', { symbol: SYMBOL }), { ticker: (r) => r.status === 200 });
  }
}

// websocket: a trade stream held for 30 s per iteration.
export function streams() {
  const url = `${WS_BASE}/ws/${SYMBOL.toLowerCase()}@trade`;
  const res = ws.connect(url, {}, (socket) => {
    socket.on('message', () => streamed.add(1));
    socket.setTimeout(() => socket.close(), 30000);
  });
  check(res, { 'websocket opened': (r) => r && r.status === 101 });
}

// trading_simulation: look, place, check, cancel, think.
export function simulate(data) {
  const key = trader(data);
  const book = send('GET', '/api/v3/depth', { symbol: SYMBOL, limit: 5 });
  check(book, { 'book read': (r) => r.status === 200 });
  const bid = book.status === 200 && book.json('bids').length > 0 ? units(book.json('bids')[0][0], TICK_SCALE) : null;
  const mid = bid ? bid + 1 : data.mid;
  place(key, mid);
  sleep(1 + Math.random());
  check(send('GET', '/api/v3/openOrders', { symbol: SYMBOL }, key), { 'open orders': (r) => r.status === 200 });
  if (resting.length > 0) cancelOldest(key);
  sleep(1 + Math.random() * 2);
}
