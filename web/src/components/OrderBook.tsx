import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { watchBook, watchTrades, type Trade } from '../lib/live';
import { grouped, type Row } from '../lib/book';
import { type Dec, fmt, ZERO } from '../lib/decimal';
import { groupSizes, type Market } from '../lib/market';
import { timeOnly } from './ui';

const ROWS = 14;

function Side({ rows, side, market, max, onPick }: { rows: Row[]; side: 'bids' | 'asks'; market: Market; max: Dec; onPick: (price: string) => void }) {
  const { i18n } = useTranslation();
  const lng = i18n.language;
  const shown = side === 'asks' ? [...rows].reverse() : rows;
  return (
    <tbody data-testid={`book-${side}`}>
      {shown.map((r) => {
        // Depth shading: the running total's share of the deepest total shown.
        const pct = max.gt(0) ? r.total.div(max).times(100).toFixed(1) : '0';
        const bg = side === 'bids' ? 'var(--up)' : 'var(--down)';
        return (
          <tr key={r.price.toFixed()} className="cursor-pointer hover:bg-panel2" onClick={() => onPick(r.price.toFixed(market.priceDp))} style={{ background: `linear-gradient(to left, color-mix(in srgb, ${bg} 16%, transparent) ${pct}%, transparent ${pct}%)` }}>
            <td className={`num py-0.5 ${side === 'bids' ? 'text-up' : 'text-down'}`}>{fmt(r.price, market.priceDp, lng)}</td>
            <td className="num py-0.5 text-right">{fmt(r.qty, market.qtyDp, lng)}</td>
            <td className="num hidden py-0.5 text-right sm:table-cell">{fmt(r.price.times(r.qty), 2, lng)}</td>
          </tr>
        );
      })}
    </tbody>
  );
}

export function OrderBook({ market, onPick }: { market: Market; onPick: (price: string) => void }) {
  const { t, i18n } = useTranslation();
  const groups = groupSizes(market);
  const [group, setGroup] = useState(0);
  const [rows, setRows] = useState<{ bids: Row[]; asks: Row[] } | null>(null);
  useEffect(() => {
    setRows(null);
    const size = groups[group] ?? market.tickSize;
    return watchBook(market.symbol, (b) => setRows({ bids: grouped(b.levels('bids'), size, 'bids', ROWS), asks: grouped(b.levels('asks'), size, 'asks', ROWS) }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [market, group]);
  const max = rows ? [rows.bids.at(-1)?.total ?? ZERO, rows.asks.at(-1)?.total ?? ZERO].reduce((a, b) => (a.gt(b) ? a : b)) : ZERO;
  const bestBid = rows?.bids[0]?.price;
  const bestAsk = rows?.asks[0]?.price;
  return (
    <div className="flex h-full flex-col text-xs">
      <div className="flex items-center justify-between border-b border-line px-2 py-1">
        <h2 className="text-sm font-semibold">{t('trade.book')}</h2>
        <label className="flex items-center gap-1 text-muted">
          {t('trade.group')}
          <select className="input w-auto py-0.5 text-xs" value={group} onChange={(e) => setGroup(Number(e.target.value))}>
            {groups.map((g, i) => (
              <option key={g.toFixed()} value={i}>
                {g.toFixed()}
              </option>
            ))}
          </select>
        </label>
      </div>
      <table className="w-full">
        <thead>
          <tr className="text-muted">
            <th scope="col" className="px-2 py-1 text-start font-normal">{t('trade.price', { asset: market.quote })}</th>
            <th scope="col" className="px-2 py-1 text-right font-normal">{t('trade.amount', { asset: market.base })}</th>
            <th scope="col" className="hidden px-2 py-1 text-right font-normal sm:table-cell">{t('trade.total', { asset: market.quote })}</th>
          </tr>
        </thead>
        {rows && <Side rows={rows.asks} side="asks" market={market} max={max} onPick={onPick} />}
        <tbody>
          <tr>
            <td colSpan={3} className="num border-y border-line px-2 py-1 text-sm">
              {bestBid && bestAsk ? `${t('trade.spread')} ${fmt(bestAsk.minus(bestBid), market.priceDp, i18n.language)}` : '–'}
            </td>
          </tr>
        </tbody>
        {rows && <Side rows={rows.bids} side="bids" market={market} max={max} onPick={onPick} />}
      </table>
    </div>
  );
}

export function RecentTrades({ market }: { market: Market }) {
  const { t, i18n } = useTranslation();
  const [trades, setTrades] = useState<Trade[]>([]);
  useEffect(() => {
    setTrades([]);
    return watchTrades(market.symbol, setTrades);
  }, [market]);
  const lng = i18n.language;
  return (
    <div className="flex h-full flex-col text-xs">
      <h2 className="border-b border-line px-2 py-1 text-sm font-semibold">{t('trade.trades')}</h2>
      <div className="overflow-y-auto">
        <table className="w-full" data-testid="recent-trades">
          <thead>
            <tr className="text-muted">
              <th scope="col" className="px-2 py-1 text-start font-normal">{t('trade.price', { asset: market.quote })}</th>
              <th scope="col" className="px-2 py-1 text-right font-normal">{t('trade.amount', { asset: market.base })}</th>
              <th scope="col" className="px-2 py-1 text-right font-normal">{t('trade.time')}</th>
            </tr>
          </thead>
          <tbody>
            {trades.slice(0, 30).map((tr) => (
              <tr key={tr.id}>
                <td className={`num px-2 py-0.5 ${tr.isBuyerMaker ? 'text-down' : 'text-up'}`}>{fmt(tr.price, market.priceDp, lng)}</td>
                <td className="num px-2 py-0.5 text-right">{fmt(tr.qty, market.qtyDp, lng)}</td>
                <td className="num px-2 py-0.5 text-right text-muted">{timeOnly(tr.time, lng)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
