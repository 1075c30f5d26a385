// A market's trading rules from exchangeInfo, as exact decimals.
import { type Dec, dec, decimalsOf, ZERO } from './decimal';

interface RawFilter {
  filterType: string;
  minPrice?: string;
  maxPrice?: string;
  tickSize?: string;
  minQty?: string;
  maxQty?: string;
  stepSize?: string;
  minNotional?: string;
  maxNotional?: string;
  applyMinToMarket?: boolean;
}

export interface RawSymbol {
  symbol: string;
  status: string;
  baseAsset: string;
  quoteAsset: string;
  orderTypes: string[];
  filters: RawFilter[];
}

export interface ExchangeInfo {
  symbols: RawSymbol[];
}

export interface Market {
  symbol: string;
  status: string;
  base: string;
  quote: string;
  orderTypes: string[];
  tickSize: Dec;
  minPrice: Dec;
  maxPrice: Dec;
  stepSize: Dec;
  minQty: Dec;
  maxQty: Dec;
  minNotional: Dec;
  /** 0: no maximum. */
  maxNotional: Dec;
  applyMinToMarket: boolean;
  /** Decimals to show prices and quantities with. */
  priceDp: number;
  qtyDp: number;
}

function filter(s: RawSymbol, type: string): RawFilter | undefined {
  return s.filters.find((f) => f.filterType === type);
}

export function toMarket(s: RawSymbol): Market {
  const price = filter(s, 'PRICE_FILTER');
  const lot = filter(s, 'LOT_SIZE');
  const notional = filter(s, 'NOTIONAL') ?? filter(s, 'MIN_NOTIONAL');
  const tickSize = dec(price?.tickSize ?? '0.00000001');
  const stepSize = dec(lot?.stepSize ?? '0.00000001');
  return {
    symbol: s.symbol,
    status: s.status,
    base: s.baseAsset,
    quote: s.quoteAsset,
    orderTypes: s.orderTypes,
    tickSize,
    minPrice: dec(price?.minPrice ?? '0'),
    maxPrice: dec(price?.maxPrice ?? '0'),
    stepSize,
    minQty: dec(lot?.minQty ?? '0'),
    maxQty: dec(lot?.maxQty ?? '0'),
    minNotional: dec(notional?.minNotional ?? '0'),
    maxNotional: dec(notional?.maxNotional ?? '0'),
    applyMinToMarket: notional?.applyMinToMarket ?? true,
    priceDp: decimalsOf(tickSize),
    qtyDp: decimalsOf(stepSize),
  };
}

/** Group sizes the book offers: the tick and its ×10 multiples (up to 4). */
export function groupSizes(m: Market): Dec[] {
  const out = [m.tickSize];
  for (let i = 1; i < 4; i++) out.push(out[i - 1]!.times(10));
  return out.filter((g) => g.gt(ZERO));
}
