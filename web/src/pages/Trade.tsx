import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useMarkets, useUser } from '../lib/hooks';
import { changePercent, fmt } from '../lib/decimal';
import { Chart } from '../components/Chart';
import { OrderBook, RecentTrades } from '../components/OrderBook';
import { OrderForm } from '../components/OrderForm';
import { UserOrders } from '../components/UserOrders';
import { ErrorNotice, Loading } from '../components/ui';
import { traded, useTickers } from './Markets';

function useDark(): boolean {
  const [dark, setDark] = useState(() => document.documentElement.classList.contains('dark'));
  useEffect(() => {
    const o = new MutationObserver(() => setDark(document.documentElement.classList.contains('dark')));
    o.observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
    return () => o.disconnect();
  }, []);
  return dark;
}

export function Trade() {
  const { t, i18n } = useTranslation();
  const { symbol = 'BTCUSDT' } = useParams();
  const { markets, error, refetch } = useMarkets();
  const market = markets?.find((m) => m.symbol === symbol.toUpperCase());
  const tickers = useTickers(market ? [market.symbol] : undefined);
  const live = market ? tickers.get(market.symbol) : undefined;
  const ticker = traded(live) ? live : undefined;
  const [picked, setPicked] = useState<string | null>(null);
  const dark = useDark();
  const user = useUser();
  useEffect(() => {
    if (ticker && market) document.title = `${fmt(ticker.c, market.priceDp, 'en', false)} ${market.symbol} · FlowEx`;
    return () => {
      document.title = 'FlowEx';
    };
  }, [ticker, market]);
  if (error) return <ErrorNotice error={error} onRetry={refetch} />;
  if (!markets) return <Loading />;
  if (!market) {
    return (
      <p className="p-4">
        {t('app.notFound')}{' '}
        <Link to="/" className="text-accent underline">
          {t('app.home')}
        </Link>
      </p>
    );
  }
  const lng = i18n.language;
  const change = ticker ? changePercent(ticker.o, ticker.c) : null;
  return (
    <div className="grid gap-1 p-1 lg:grid-cols-[1fr_20rem_18rem]">
      <div className="card flex flex-wrap items-baseline gap-x-6 gap-y-1 px-3 py-2 lg:col-span-3">
        <h1 className="text-lg font-semibold">
          {market.base}/{market.quote}
        </h1>
        <span className={`num text-lg ${change?.startsWith('-') ? 'text-down' : 'text-up'}`} data-testid="last-price" aria-label={t('trade.last')}>
          {ticker ? fmt(ticker.c, market.priceDp, lng) : '–'}
        </span>
        {[
          ['markets.change', change ? `${change}%` : '–'],
          ['markets.high', ticker ? fmt(ticker.h, market.priceDp, lng) : '–'],
          ['markets.low', ticker ? fmt(ticker.l, market.priceDp, lng) : '–'],
          ['markets.volume', ticker ? `${fmt(ticker.v, market.qtyDp, lng)} ${market.base}` : '–'],
        ].map(([k, v]) => (
          <span key={k} className="text-xs text-muted">
            {t(k!)} <span className="num text-fg">{v}</span>
          </span>
        ))}
      </div>
      <section className="card h-[26rem] overflow-hidden lg:h-[32rem]" aria-label={t('trade.chart')}>
        <Chart market={market} dark={dark} />
      </section>
      <section className="card overflow-hidden lg:h-[32rem]" aria-label={t('trade.book')}>
        <OrderBook market={market} onPick={setPicked} />
      </section>
      <section className="card lg:row-span-2" aria-label={t('nav.trade')}>
        <OrderForm market={market} pickedPrice={picked} lastPrice={ticker?.c ?? null} />
      </section>
      {user && (
        <section className="card min-h-48 overflow-hidden lg:col-span-1" aria-label={t('trade.orderHistory')}>
          <UserOrders market={market} />
        </section>
      )}
      <section className="card max-h-96 overflow-hidden" aria-label={t('trade.trades')}>
        <RecentTrades market={market} />
      </section>
    </div>
  );
}
