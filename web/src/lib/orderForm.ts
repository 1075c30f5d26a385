// The order form's rules: what a person typed becomes the exact request
// /api/v3/order takes, or the reasons it would be refused (tick size, lot
// size, minimum and maximum notional, available balance), checked before
// anything is sent.
import { type Dec, parseInput, isMultiple, ZERO, floorToStep } from './decimal';
import type { Market } from './market';

export type Side = 'BUY' | 'SELL';
export type Kind = 'LIMIT' | 'MARKET' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT_LIMIT';

export interface FormInput {
  side: Side;
  kind: Kind;
  price: string;
  stopPrice: string;
  /** Base quantity ("amount"). */
  quantity: string;
  /** Quote total, for a market order by total. */
  total: string;
  /** Market orders: sized by `quantity` or by `total`. */
  marketBy: 'quantity' | 'total';
  postOnly: boolean;
  timeInForce: 'GTC' | 'IOC' | 'FOK';
}

/** A reason an order would be refused: an i18n key and its values. */
export interface Problem {
  field: 'price' | 'stopPrice' | 'quantity' | 'total' | 'balance';
  key: string;
  values?: Record<string, string>;
}

export interface Checked {
  problems: Problem[];
  /** The form body for POST /api/v3/order when there is no problem. */
  request: Record<string, string> | null;
  /** Quote value of the order (price × quantity, or the total). */
  notional: Dec | null;
}

interface Context {
  market: Market;
  /** Free balances of the base and quote assets. */
  freeBase: Dec;
  freeQuote: Dec;
  /** The best opposite price, to estimate a market order by quantity. */
  referencePrice: Dec | null;
}

function positive(field: Problem['field'], text: string, problems: Problem[]): Dec | null {
  const v = parseInput(text);
  if (text.trim() === '') {
    problems.push({ field, key: 'form.required' });
    return null;
  }
  if (v === null || v.lte(0)) {
    problems.push({ field, key: 'form.positive' });
    return null;
  }
  return v;
}

function checkPrice(field: 'price' | 'stopPrice', p: Dec, m: Market, problems: Problem[]): void {
  if (!isMultiple(p, m.tickSize)) {
    problems.push({ field, key: 'form.tick', values: { tick: m.tickSize.toFixed() } });
  } else if (p.lt(m.minPrice) || (m.maxPrice.gt(0) && p.gt(m.maxPrice))) {
    problems.push({ field, key: 'form.priceRange', values: { min: m.minPrice.toFixed(), max: m.maxPrice.toFixed() } });
  }
}

function checkQuantity(q: Dec, m: Market, problems: Problem[]): void {
  if (!isMultiple(q, m.stepSize)) {
    problems.push({ field: 'quantity', key: 'form.step', values: { step: m.stepSize.toFixed() } });
  } else if (q.lt(m.minQty) || (m.maxQty.gt(0) && q.gt(m.maxQty))) {
    problems.push({ field: 'quantity', key: 'form.qtyRange', values: { min: m.minQty.toFixed(), max: m.maxQty.toFixed() } });
  }
}

function checkNotional(n: Dec, m: Market, isMarket: boolean, field: Problem['field'], problems: Problem[]): void {
  if ((!isMarket || m.applyMinToMarket) && n.lt(m.minNotional)) {
    problems.push({ field, key: 'form.minNotional', values: { min: m.minNotional.toFixed(), asset: m.quote } });
  }
  if (m.maxNotional.gt(0) && n.gt(m.maxNotional)) {
    problems.push({ field, key: 'form.maxNotional', values: { max: m.maxNotional.toFixed(), asset: m.quote } });
  }
}

function checkBalance(side: Side, quantity: Dec | null, notional: Dec | null, c: Context, problems: Problem[]): void {
  const need = side === 'BUY' ? notional : quantity;
  const free = side === 'BUY' ? c.freeQuote : c.freeBase;
  if (need !== null && need.gt(free)) {
    problems.push({
      field: 'balance',
      key: 'form.balance',
      values: { asset: side === 'BUY' ? c.market.quote : c.market.base },
    });
  }
}

/** Checks the form and builds the request. */
export function checkOrder(f: FormInput, c: Context): Checked {
  const m = c.market;
  const problems: Problem[] = [];
  const base: Record<string, string> = { symbol: m.symbol, side: f.side };
  if (f.kind === 'MARKET') return checkMarket(f, c, base, problems);
  const price = positive('price', f.price, problems);
  if (price) checkPrice('price', price, m, problems);
  const quantity = positive('quantity', f.quantity, problems);
  if (quantity) checkQuantity(quantity, m, problems);
  let stop: Dec | null = null;
  if (f.kind !== 'LIMIT') {
    stop = positive('stopPrice', f.stopPrice, problems);
    if (stop) checkPrice('stopPrice', stop, m, problems);
  }
  const notional = price && quantity ? price.times(quantity) : null;
  if (notional && problems.length === 0) checkNotional(notional, m, false, 'total', problems);
  checkBalance(f.side, quantity, notional, c, problems);
  if (problems.length > 0 || !price || !quantity) return { problems, request: null, notional };
  const request: Record<string, string> = { ...base, price: price.toFixed(), quantity: quantity.toFixed() };
  if (f.kind === 'LIMIT' && f.postOnly) {
    request.type = 'LIMIT_MAKER';
  } else {
    request.type = f.kind;
    request.timeInForce = f.timeInForce;
  }
  if (stop) request.stopPrice = stop.toFixed();
  return { problems, request, notional };
}

function checkMarket(f: FormInput, c: Context, base: Record<string, string>, problems: Problem[]): Checked {
  const m = c.market;
  if (f.marketBy === 'total') {
    const total = positive('total', f.total, problems);
    if (total) {
      // Binance takes quoteOrderQty at the quote asset's precision; the
      // price tick is the finest step the book can use.
      checkNotional(total, m, true, 'total', problems);
      checkBalance(f.side, null, f.side === 'BUY' ? total : null, c, problems);
      if (f.side === 'SELL' && c.referencePrice && c.referencePrice.gt(0)) {
        const qty = floorToStep(total.div(c.referencePrice), m.stepSize);
        checkBalance('SELL', qty, null, c, problems);
      }
    }
    const ok = problems.length === 0 && total;
    return {
      problems,
      request: ok ? { ...base, type: 'MARKET', quoteOrderQty: total.toFixed() } : null,
      notional: total,
    };
  }
  const quantity = positive('quantity', f.quantity, problems);
  if (quantity) checkQuantity(quantity, m, problems);
  const notional = quantity && c.referencePrice ? quantity.times(c.referencePrice) : null;
  if (notional && problems.length === 0) checkNotional(notional, m, true, 'quantity', problems);
  checkBalance(f.side, quantity, notional, c, problems);
  const ok = problems.length === 0 && quantity;
  return {
    problems,
    request: ok ? { ...base, type: 'MARKET', quantity: quantity.toFixed() } : null,
    notional,
  };
}

/** The quantity `percent` of the free balance buys or sells at `price`, down to the lot. */
export function quantityForPercent(percent: number, side: Side, price: Dec | null, c: Context): Dec {
  const share = (x: Dec) => x.times(percent).div(100);
  if (side === 'SELL') return floorToStep(share(c.freeBase), c.market.stepSize);
  if (!price || price.lte(0)) return ZERO;
  return floorToStep(share(c.freeQuote).div(price), c.market.stepSize);
}

/** The largest fee the order may pay: its value times the taker rate. */
export function feeEstimate(notional: Dec | null, takerRate: Dec | null): Dec | null {
  if (!notional || !takerRate) return null;
  return notional.times(takerRate);
}
