import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useQueryClient } from '@tanstack/react-query';
import { api } from '../lib/api';
import { useAccount, useUser } from '../lib/hooks';
import { dec, fmt, parseInput, ZERO, type Dec } from '../lib/decimal';
import type { Market } from '../lib/market';
import { checkOrder, feeEstimate, quantityForPercent, type FormInput, type Kind, type Side } from '../lib/orderForm';
import { errorText, Field, Notice } from './ui';

const KINDS: [Kind, string][] = [
  ['LIMIT', 'form.limit'],
  ['MARKET', 'form.market'],
  ['STOP_LOSS_LIMIT', 'form.stopLimit'],
  ['TAKE_PROFIT_LIMIT', 'form.takeProfit'],
];

const blank = (side: Side, kind: Kind): FormInput => ({ side, kind, price: '', stopPrice: '', quantity: '', total: '', marketBy: 'quantity', postOnly: false, timeInForce: 'GTC' });

function useFree(market: Market): { base: Dec; quote: Dec; taker: Dec | null } {
  const account = useAccount();
  return useMemo(() => {
    const free = (a: string) => {
      const b = account.data?.balances.find((x) => x.asset === a);
      return b ? dec(b.free) : ZERO;
    };
    const taker = account.data?.commissionRates.taker;
    return { base: free(market.base), quote: free(market.quote), taker: taker ? dec(taker) : null };
  }, [account.data, market]);
}

function Options({ f, set }: { f: FormInput; set: (p: Partial<FormInput>) => void }) {
  const { t } = useTranslation();
  if (f.kind === 'MARKET') {
    return (
      <div className="flex gap-3 text-xs" role="radiogroup" aria-label={t('form.market')}>
        {(['quantity', 'total'] as const).map((by) => (
          <label key={by} className="flex items-center gap-1">
            <input type="radio" name="marketBy" checked={f.marketBy === by} onChange={() => set({ marketBy: by })} />
            {t(by === 'quantity' ? 'form.byAmount' : 'form.byTotal')}
          </label>
        ))}
      </div>
    );
  }
  return (
    <div className="flex flex-wrap items-center gap-3 text-xs">
      {f.kind === 'LIMIT' && (
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={f.postOnly} onChange={(e) => set({ postOnly: e.target.checked })} />
          {t('form.postOnly')}
        </label>
      )}
      <label className="flex items-center gap-1">
        {t('form.timeInForce')}
        <select className="input w-auto py-0.5 text-xs" value={f.timeInForce} disabled={f.postOnly} onChange={(e) => set({ timeInForce: e.target.value as FormInput['timeInForce'] })}>
          <option value="GTC">GTC</option>
          <option value="IOC">IOC</option>
          <option value="FOK">FOK</option>
        </select>
      </label>
    </div>
  );
}

export function OrderForm({ market, pickedPrice, lastPrice }: { market: Market; pickedPrice: string | null; lastPrice: string | null }) {
  const { t, i18n } = useTranslation();
  const user = useUser();
  const qc = useQueryClient();
  const free = useFree(market);
  const [f, setF] = useState<FormInput>(() => blank('BUY', 'LIMIT'));
  const [touched, setTouched] = useState(false);
  const [result, setResult] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (p: Partial<FormInput>) => setF((old) => ({ ...old, ...p }));
  useEffect(() => {
    if (pickedPrice) set({ price: pickedPrice });
  }, [pickedPrice]);
  useEffect(() => setF((old) => blank(old.side, old.kind)), [market]);

  const ref = parseInput(f.price) ?? (lastPrice ? dec(lastPrice) : null);
  const ctx = { market, freeBase: free.base, freeQuote: free.quote, referencePrice: lastPrice ? dec(lastPrice) : null };
  const checked = checkOrder(f, ctx);
  const problem = (field: string) => {
    const p = touched ? checked.problems.find((x) => x.field === field) : undefined;
    return p ? t(p.key, p.values) : undefined;
  };
  const fee = feeEstimate(checked.notional, free.taker);
  const lng = i18n.language;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    setResult(null);
    if (!checked.request) return;
    setBusy(true);
    try {
      const r = await api<{ orderId: number; status: string }>('/api/v3/order', { method: 'POST', form: { ...checked.request, newOrderRespType: 'RESULT' } });
      setResult({ kind: 'ok', text: t('form.placed', { id: r.orderId, status: t(`status.${r.status}`) }) });
      setF(blank(f.side, f.kind));
      setTouched(false);
      void qc.invalidateQueries({ queryKey: ['private'] });
    } catch (err) {
      setResult({ kind: 'error', text: t('form.rejected', { message: errorText(err) }) });
    } finally {
      setBusy(false);
    }
  };

  const pay = f.side === 'BUY' ? market.quote : market.base;
  const percent = (p: number) => {
    const q = quantityForPercent(p, f.side, ref, ctx);
    if (f.kind === 'MARKET' && f.marketBy === 'total' && f.side === 'BUY') set({ total: free.quote.times(p).div(100).toFixed(market.priceDp, 0) });
    else set({ quantity: q.toFixed() });
  };

  return (
    <form onSubmit={(e) => void submit(e)} className="flex flex-col gap-2 p-2" aria-label={t('nav.trade')} noValidate>
      <div className="grid grid-cols-2 gap-1" role="group" aria-label={t('trade.side')}>
        {(['BUY', 'SELL'] as const).map((s) => (
          <button key={s} type="button" aria-pressed={f.side === s} className={f.side === s ? (s === 'BUY' ? 'btn-up' : 'btn-down') : 'btn-ghost'} onClick={() => set({ side: s })}>
            {t(`trade.${s}`)}
          </button>
        ))}
      </div>
      <div className="flex flex-wrap gap-1" role="group" aria-label={t('trade.type')}>
        {KINDS.map(([k, label]) => (
          <button key={k} type="button" aria-pressed={f.kind === k} className={`rounded px-2 py-0.5 text-xs ${f.kind === k ? 'bg-panel2 text-accent' : 'text-muted hover:text-fg'}`} onClick={() => set({ kind: k })}>
            {t(label)}
          </button>
        ))}
      </div>
      <p className="text-xs text-muted">
        {t('form.available')}: <span className="num text-fg" data-testid="available">{fmt(f.side === 'BUY' ? free.quote : free.base, 8, lng)}</span> {pay}
      </p>
      {f.kind !== 'LIMIT' && f.kind !== 'MARKET' && <Field label={t('form.stopPrice', { asset: market.quote })} inputMode="decimal" value={f.stopPrice} error={problem('stopPrice')} onChange={(e) => set({ stopPrice: e.target.value })} />}
      {f.kind !== 'MARKET' && <Field label={t('trade.price', { asset: market.quote })} name="price" inputMode="decimal" value={f.price} error={problem('price')} onChange={(e) => set({ price: e.target.value })} />}
      {f.kind === 'MARKET' && f.marketBy === 'total' ? (
        <Field label={t('trade.total', { asset: market.quote })} name="total" inputMode="decimal" value={f.total} error={problem('total')} onChange={(e) => set({ total: e.target.value })} />
      ) : (
        <Field label={t('trade.amount', { asset: market.base })} name="quantity" inputMode="decimal" value={f.quantity} error={problem('quantity')} onChange={(e) => set({ quantity: e.target.value })} />
      )}
      <div className="grid grid-cols-4 gap-1">
        {[25, 50, 75, 100].map((p) => (
          <button key={p} type="button" className="btn-ghost px-1 py-0.5 text-xs" aria-label={t('form.percent', { percent: p })} onClick={() => percent(p)} disabled={!user}>
            {p}%
          </button>
        ))}
      </div>
      <Options f={f} set={set} />
      <dl className="grid grid-cols-2 gap-x-2 text-xs text-muted">
        <dt>{t('form.estTotal')}</dt>
        <dd className="num text-right text-fg" data-testid="order-total">{checked.notional ? `${fmt(checked.notional, market.priceDp + market.qtyDp, lng)} ${market.quote}` : '–'}</dd>
        <dt>{t('form.estFee')}</dt>
        <dd className="num text-right">{fee ? `${fmt(fee, 8, lng)} ${market.quote}` : '–'}</dd>
      </dl>
      {touched && problem('balance') && <Notice kind="error">{problem('balance')}</Notice>}
      {touched && !problem('balance') && problem('total') && f.kind !== 'MARKET' && <Notice kind="error">{problem('total')}</Notice>}
      {user ? (
        <button type="submit" className={f.side === 'BUY' ? 'btn-up' : 'btn-down'} disabled={busy || market.status !== 'TRADING'}>
          {t('form.submit', { side: t(`trade.${f.side}`), asset: market.base })}
        </button>
      ) : (
        <p className="text-sm">
          <Link to="/signin" className="text-accent underline">
            {t('trade.signInToTrade')}
          </Link>
        </p>
      )}
      {market.status !== 'TRADING' && <Notice kind="error">{t('trade.halted', { status: t(`status.${market.status}`) })}</Notice>}
      {result && <Notice kind={result.kind}>{result.text}</Notice>}
    </form>
  );
}
