// FlowEx's API as the k6 script uses it: Binance-style signing and the
// order parameters, as plain functions with no k6 (or Node) import, so the
// same code runs under k6 (load-test.js) and under Node (check.mjs).
//
// A signed request carries `recvWindow`, a fresh `timestamp` (ms) and
// `signature`: the lowercase hex HMAC-SHA256, keyed with the API secret, of
// exactly the bytes sent (the query string of a GET or DELETE, the form body
// of a POST). `hmacHex(secret, text)` is supplied by the runtime.

export const RECV_WINDOW_MS = 5000;

// `a=1&b=2` from an object, values percent-encoded, in insertion order.
export function encode(params) {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined && params[k] !== null)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(params[k]))}`)
    .join('&');
}

// The signed parameter string for `params`, stamped at `nowMs`.
export function signed(params, secret, hmacHex, nowMs) {
  const text = encode(Object.assign({}, params, { recvWindow: RECV_WINDOW_MS, timestamp: nowMs }));
  return `${text}&signature=${hmacHex(secret, text)}`;
}

// A request description: { method, url, body, headers } for `path` with
// `params`, signed for `key` when given (POST: form body; else query).
export function request(base, method, path, params, key, hmacHex, nowMs) {
  const text = key ? signed(params, key.secret, hmacHex, nowMs) : encode(params);
  const headers = {};
  if (key) headers['X-MBX-APIKEY'] = key.apiKey;
  if (method === 'POST') {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    return { method, url: `${base}${path}`, body: text, headers };
  }
  return { method, url: text ? `${base}${path}?${text}` : `${base}${path}`, body: null, headers };
}

// Decimal string of `units` at `scale` decimals (integers only: no floats
// touch a price or a quantity).
export function decimal(units, scale) {
  const s = String(units).padStart(scale + 1, '0');
  return scale === 0 ? s : `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
}

// Integer units of a decimal string at `scale` decimals (null if finer).
export function units(text, scale) {
  const [int, frac = ''] = String(text).split('.');
  const trimmed = frac.replace(/0+$/, '');
  if (trimmed.length > scale || !/^\d+$/.test(int) || !/^\d*$/.test(frac)) return null;
  return parseInt(int + trimmed.padEnd(scale, '0'), 10);
}

// A LIMIT GTC order `depth` ticks on its own side of `midTicks` (a
// negative depth crosses), `lots` lots, for a market with tick and step
// scales `tickScale` and `stepScale` (BTCUSDT: 2 and 5).
export function limitOrder(symbol, buy, midTicks, depth, lots, tickScale, stepScale) {
  const ticks = buy ? midTicks - depth : midTicks + depth;
  return {
    symbol,
    side: buy ? 'BUY' : 'SELL',
    type: 'LIMIT',
    timeInForce: 'GTC',
    quantity: decimal(lots, stepScale),
    price: decimal(ticks, tickScale),
    newOrderRespType: 'RESULT',
  };
}

// Lots worth at least `multiple` × `minNotionalUnits` (quote units at
// tickScale + stepScale decimals) at `ticks`.
export function lotsFor(ticks, multiple, minNotionalUnits) {
  return Math.max(1, Math.ceil((minNotionalUnits * multiple) / Math.max(1, ticks)));
}
