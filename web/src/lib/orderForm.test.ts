import { describe, expect, it } from 'vitest';
import { checkOrder, quantityForPercent, type FormInput } from './orderForm';
import { toMarket } from './market';
import { dec } from './decimal';

const market = toMarket({
  symbol: 'BTCUSDT',
  status: 'TRADING',
  baseAsset: 'BTC',
  quoteAsset: 'USDT',
  orderTypes: ['LIMIT', 'MARKET'],
  filters: [
    { filterType: 'PRICE_FILTER', minPrice: '0.01000000', maxPrice: '1000000.00000000', tickSize: '0.01000000' },
    { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' },
    { filterType: 'NOTIONAL', minNotional: '5.00000000', maxNotional: '0', applyMinToMarket: true },
  ],
});

const ctx = { market, freeBase: dec('0.5'), freeQuote: dec('1000'), referencePrice: dec('64000') };

const form = (f: Partial<FormInput>): FormInput => ({
  side: 'BUY',
  kind: 'LIMIT',
  price: '',
  stopPrice: '',
  quantity: '',
  total: '',
  marketBy: 'quantity',
  postOnly: false,
  timeInForce: 'GTC',
  ...f,
});

const keys = (f: Partial<FormInput>) => checkOrder(form(f), ctx).problems.map((p) => `${p.field}:${p.key}`);

describe('order form', () => {
  it('builds an exact limit order', () => {
    const c = checkOrder(form({ price: '64000.01', quantity: '0.01' }), ctx);
    expect(c.problems).toEqual([]);
    expect(c.request).toEqual({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', price: '64000.01', quantity: '0.01' });
    expect(c.notional?.toFixed()).toBe('640.0001');
  });

  it('refuses what the filters would refuse', () => {
    expect(keys({ price: '64000.015', quantity: '0.01' })).toEqual(['price:form.tick']);
    expect(keys({ price: '64000', quantity: '0.000015' })).toEqual(['quantity:form.step']);
    expect(keys({ price: '1', quantity: '1' })).toEqual(['total:form.minNotional']);
    expect(keys({ price: '2000000', quantity: '0.00001' })).toEqual(['price:form.priceRange']);
    expect(keys({ price: '', quantity: 'abc' })).toEqual(['price:form.required', 'quantity:form.positive']);
  });

  it('checks the available balance of the side that pays', () => {
    expect(keys({ price: '64000', quantity: '0.1' })).toEqual(['balance:form.balance']);
    expect(keys({ side: 'SELL', price: '64000', quantity: '0.6' })).toEqual(['balance:form.balance']);
    expect(keys({ side: 'SELL', price: '64000', quantity: '0.5' })).toEqual([]);
  });

  it('post-only is LIMIT_MAKER; stop-limit carries its stop price', () => {
    expect(checkOrder(form({ price: '60000', quantity: '0.001', postOnly: true }), ctx).request?.type).toBe('LIMIT_MAKER');
    const stop = checkOrder(form({ kind: 'STOP_LOSS_LIMIT', side: 'SELL', price: '60000', stopPrice: '60100', quantity: '0.001', timeInForce: 'IOC' }), ctx);
    expect(stop.request).toMatchObject({ type: 'STOP_LOSS_LIMIT', stopPrice: '60100', timeInForce: 'IOC' });
    expect(keys({ kind: 'TAKE_PROFIT_LIMIT', price: '60000', quantity: '0.001' })).toEqual(['stopPrice:form.required']);
  });

  it('market orders by quantity or by total', () => {
    expect(checkOrder(form({ kind: 'MARKET', quantity: '0.001' }), ctx).request).toEqual({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001' });
    expect(checkOrder(form({ kind: 'MARKET', marketBy: 'total', total: '100' }), ctx).request).toEqual({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quoteOrderQty: '100' });
    expect(keys({ kind: 'MARKET', marketBy: 'total', total: '4.99' })).toEqual(['total:form.minNotional']);
    expect(keys({ kind: 'MARKET', marketBy: 'total', total: '1000.01' })).toEqual(['balance:form.balance']);
  });

  it('percent buttons size from the free balance, down to the lot', () => {
    expect(quantityForPercent(50, 'BUY', dec('64000'), ctx).toFixed()).toBe('0.00781');
    expect(quantityForPercent(25, 'SELL', null, ctx).toFixed()).toBe('0.125');
  });
});
