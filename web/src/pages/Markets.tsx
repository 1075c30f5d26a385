import { useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useFavourites, useMarkets } from '../lib/hooks';
import { watchTickers, type MiniTicker } from '../lib/live';
import { changePercent, fmt } from '../lib/decimal';
import type { Market } from '../lib/market';
import { ErrorNotice, Loading, Tabs } from '../components/ui';

/** Live 24 h tickers by symbol. */
/** A market that never traded has a last price of zero: nothing to show. */
export const traded = (t: MiniTicker | undefined): t is MiniTicker => t !== undefined && !/^0(\.0*)?$/.test(t.c);

export function useTickers(symbols: string[] | undefined): Map<string, MiniTicker> {
  const [tickers, setTickers] = useState(() => new Map<string, MiniTicker>());
  const key = symbols?.join(',') ?? '';
  useEffect(() => {
    if (!key) return;
    return watchTickers(key.split(','), (list) =>
      setTickers((old) => {
        const next = new Map(old);
        for (const t of list) next.set(t.s, t);
        return next;
      }),
    );
  }, [key]);
  return tickers;
}

function Row({ m, t: live, fav, toggle }: { m: Market; t: MiniTicker | undefined; fav: boolean; toggle: () => void }) {
  const { t, i18n } = useTranslation();
  const ticker = traded(live) ? live : undefined;
  const lng = i18n.language;
  const change = ticker ? changePercent(ticker.o, ticker.c) : null;
  const color = change?.startsWith('+') ? 'text-up' : change?.startsWith('-') ? 'text-down' : '';
  return (
    <tr className="hover:bg-panel2">
      <td>
        <button type="button" aria-pressed={fav} aria-label={t(fav ? 'markets.unfavourite' : 'markets.favourite', { symbol: m.symbol })} onClick={toggle} className={`mr-2 ${fav ? 'text-accent' : 'text-muted'}`}>
          {fav ? '★' : '☆'}
        </button>
        <Link to={`/trade/${m.symbol}`} className="font-medium hover:text-accent">
          {m.base}
          <span className="text-muted">/{m.quote}</span>
        </Link>
      </td>
      <td className="num text-right">{ticker ? fmt(ticker.c, m.priceDp, lng) : '–'}</td>
      <td className={`num text-right ${color}`}>{change ? `${change}%` : '–'}</td>
      <td className="num hidden text-right md:table-cell">{ticker ? fmt(ticker.h, m.priceDp, lng) : '–'}</td>
      <td className="num hidden text-right md:table-cell">{ticker ? fmt(ticker.l, m.priceDp, lng) : '–'}</td>
      <td className="num hidden text-right sm:table-cell">{ticker ? fmt(ticker.q, 2, lng) : '–'}</td>
    </tr>
  );
}

export function Markets() {
  const { t } = useTranslation();
  const { markets, error, refetch } = useMarkets();
  const tickers = useTickers(markets?.map((m) => m.symbol));
  const [fav, toggle] = useFavourites();
  const [query, setQuery] = useState('');
  const [tab, setTab] = useState<'all' | 'fav'>('all');
  const shown = useMemo(() => {
    const q = query.trim().toUpperCase();
    return (markets ?? []).filter((m) => (tab === 'all' || fav.has(m.symbol)) && (!q || m.symbol.includes(q)));
  }, [markets, query, tab, fav]);
  if (error) return <ErrorNotice error={error} onRetry={refetch} />;
  if (!markets) return <Loading />;
  return (
    <div className="mx-auto max-w-5xl p-3">
      <h1 className="mb-3 text-xl font-semibold">{t('markets.title')}</h1>
      <div className="mb-3 flex flex-wrap items-end justify-between gap-2">
        <Tabs label={t('markets.title')} value={tab} onChange={setTab} tabs={[['all', t('markets.all')], ['fav', t('markets.favourites')]]} />
        <div className="w-full sm:w-64">
          <label htmlFor="market-search" className="sr-only">
            {t('markets.search')}
          </label>
          <input id="market-search" type="search" className="input" placeholder={t('markets.search')} value={query} onChange={(e) => setQuery(e.target.value)} />
        </div>
      </div>
      <div className="card overflow-x-auto">
        <table className="grid-table">
          <thead>
            <tr>
              <th scope="col">{t('markets.market')}</th>
              <th scope="col" className="text-right">{t('markets.last')}</th>
              <th scope="col" className="text-right">{t('markets.change')}</th>
              <th scope="col" className="hidden text-right md:table-cell">{t('markets.high')}</th>
              <th scope="col" className="hidden text-right md:table-cell">{t('markets.low')}</th>
              <th scope="col" className="hidden text-right sm:table-cell">{t('markets.volume')}</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((m) => (
              <Row key={m.symbol} m={m} t={tickers.get(m.symbol)} fav={fav.has(m.symbol)} toggle={() => toggle(m.symbol)} />
            ))}
          </tbody>
        </table>
        {shown.length === 0 && <p className="p-4 text-sm text-muted">{t('markets.none')}</p>}
      </div>
    </div>
  );
}
