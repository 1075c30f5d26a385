import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../lib/api';
import { useUser, useUserRefetch } from '../lib/hooks';
import { dec, fmt } from '../lib/decimal';
import type { Market } from '../lib/market';
import { dateTime, errorText, ErrorNotice, Loading, Notice, Tabs } from './ui';

interface Order {
  orderId: number;
  symbol: string;
  side: string;
  type: string;
  price: string;
  stopPrice: string;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  status: string;
  time: number;
}

interface MyTrade {
  id: number;
  orderId: number;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

function useOrders<T>(kind: string, path: string, symbol: string, ms: number, enabled: boolean) {
  const user = useUser();
  const refetchInterval = useUserRefetch(ms);
  return useQuery({
    queryKey: ['private', kind, symbol],
    queryFn: () => api<T[]>(path, { query: { symbol, limit: path.endsWith('openOrders') ? undefined : 50 } }),
    enabled: user !== null && enabled,
    refetchInterval,
  });
}

function OrdersTable({ orders, market, onCancel }: { orders: Order[]; market: Market; onCancel?: (id: number) => void }) {
  const { t, i18n } = useTranslation();
  const lng = i18n.language;
  if (orders.length === 0) return <p className="p-3 text-sm text-muted">{onCancel ? t('trade.noOrders') : t('trade.noHistory')}</p>;
  return (
    <table className="grid-table text-xs">
      <thead>
        <tr>
          <th scope="col">{t('trade.date')}</th>
          <th scope="col">{t('trade.side')}</th>
          <th scope="col">{t('trade.type')}</th>
          <th scope="col" className="text-right">{t('trade.price', { asset: market.quote })}</th>
          <th scope="col" className="text-right">{t('trade.amount', { asset: market.base })}</th>
          <th scope="col" className="text-right">{t('trade.filled')}</th>
          <th scope="col">{t('trade.status')}</th>
          {onCancel && <th scope="col"><span className="sr-only">{t('trade.cancel')}</span></th>}
        </tr>
      </thead>
      <tbody>
        {orders.map((o) => (
          <tr key={o.orderId} data-testid={`order-${o.orderId}`}>
            <td className="num whitespace-nowrap">{dateTime(o.time, lng)}</td>
            <td className={o.side === 'BUY' ? 'text-up' : 'text-down'}>{t(`trade.${o.side}`)}</td>
            <td>{o.type}</td>
            <td className="num text-right">{dec(o.price).gt(0) ? fmt(o.price, market.priceDp, lng) : '–'}</td>
            <td className="num text-right">{fmt(o.origQty, market.qtyDp, lng)}</td>
            <td className="num text-right">{fmt(o.executedQty, market.qtyDp, lng)}</td>
            <td>{t(`status.${o.status}`)}</td>
            {onCancel && (
              <td>
                <button type="button" className="text-accent underline" onClick={() => onCancel(o.orderId)}>
                  {t('trade.cancel')}
                </button>
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TradesTable({ trades, market }: { trades: MyTrade[]; market: Market }) {
  const { t, i18n } = useTranslation();
  const lng = i18n.language;
  if (trades.length === 0) return <p className="p-3 text-sm text-muted">{t('trade.noHistory')}</p>;
  return (
    <table className="grid-table text-xs" data-testid="my-trades">
      <thead>
        <tr>
          <th scope="col">{t('trade.date')}</th>
          <th scope="col">{t('trade.side')}</th>
          <th scope="col" className="text-right">{t('trade.price', { asset: market.quote })}</th>
          <th scope="col" className="text-right">{t('trade.amount', { asset: market.base })}</th>
          <th scope="col" className="text-right">{t('trade.total', { asset: market.quote })}</th>
          <th scope="col" className="text-right">{t('trade.fee')}</th>
          <th scope="col">{t('trade.role')}</th>
        </tr>
      </thead>
      <tbody>
        {[...trades].reverse().map((x) => (
          <tr key={x.id}>
            <td className="num whitespace-nowrap">{dateTime(x.time, lng)}</td>
            <td className={x.isBuyer ? 'text-up' : 'text-down'}>{t(x.isBuyer ? 'trade.BUY' : 'trade.SELL')}</td>
            <td className="num text-right">{fmt(x.price, market.priceDp, lng)}</td>
            <td className="num text-right">{fmt(x.qty, market.qtyDp, lng)}</td>
            <td className="num text-right">{fmt(x.quoteQty, 8, lng)}</td>
            <td className="num text-right">
              {fmt(x.commission, 8, lng)} {x.commissionAsset}
            </td>
            <td>{t(x.isMaker ? 'trade.maker' : 'trade.taker')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function UserOrders({ market }: { market: Market }) {
  const { t } = useTranslation();
  const user = useUser();
  const qc = useQueryClient();
  const [tab, setTab] = useState<'open' | 'orders' | 'trades'>('open');
  const [error, setError] = useState<string | null>(null);
  const open = useOrders<Order>('openOrders', '/api/v3/openOrders', market.symbol, 3_000, true);
  const history = useOrders<Order>('allOrders', '/api/v3/allOrders', market.symbol, 10_000, tab === 'orders');
  const trades = useOrders<MyTrade>('myTrades', '/api/v3/myTrades', market.symbol, 10_000, tab === 'trades');
  if (!user) return null;
  const act = async (query: Record<string, string | number>, path: string) => {
    setError(null);
    try {
      await api(path, { method: 'DELETE', query: { symbol: market.symbol, ...query } });
    } catch (e) {
      setError(errorText(e));
    }
    void qc.invalidateQueries({ queryKey: ['private'] });
  };
  const q = tab === 'open' ? open : tab === 'orders' ? history : trades;
  const openCount = open.data?.length ?? 0;
  return (
    <div>
      <div className="flex items-center justify-between pr-2">
        <Tabs
          label={t('trade.openOrders', { count: openCount })}
          value={tab}
          onChange={setTab}
          tabs={[
            ['open', t('trade.openOrders', { count: openCount })],
            ['orders', t('trade.orderHistory')],
            ['trades', t('trade.tradeHistory')],
          ]}
        />
        {tab === 'open' && openCount > 0 && (
          <button type="button" className="btn-ghost py-0.5 text-xs" onClick={() => void act({}, '/api/v3/openOrders')}>
            {t('trade.cancelAll')}
          </button>
        )}
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      <div className="overflow-x-auto">
        {q.error ? (
          <ErrorNotice error={q.error} onRetry={() => void q.refetch()} />
        ) : !q.data ? (
          <Loading />
        ) : tab === 'trades' ? (
          <TradesTable trades={q.data as MyTrade[]} market={market} />
        ) : (
          <OrdersTable orders={tab === 'open' ? (q.data as Order[]) : [...(q.data as Order[])].reverse()} market={market} onCancel={tab === 'open' ? (id) => void act({ orderId: id }, '/api/v3/order') : undefined} />
        )}
      </div>
    </div>
  );
}
