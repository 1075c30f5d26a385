import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../lib/api';
import { useUser } from '../lib/hooks';
import { dateTime, errorText, ErrorNotice, Field, fromSecs, Loading, Notice, Section, Tabs } from '../components/ui';

type Msg = { kind: 'ok' | 'error'; text: string } | null;

function useAct(keys: string[]): [Msg, (f: () => Promise<unknown>) => Promise<void>] {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const [msg, setMsg] = useState<Msg>(null);
  const act = async (f: () => Promise<unknown>) => {
    setMsg(null);
    try {
      await f();
      setMsg({ kind: 'ok', text: t('admin.done') });
    } catch (e) {
      setMsg({ kind: 'error', text: errorText(e) });
    }
    void qc.invalidateQueries({ queryKey: keys });
  };
  return [msg, act];
}

interface MarketView {
  symbol: string;
  status: string;
  base_asset: string;
  quote_asset: string;
  tick_size: string;
  step_size: string;
  min_qty: string;
  max_qty: string;
  min_notional: string;
  maker_fee: string;
  taker_fee: string;
}

function MarketRow({ m, act }: { m: MarketView; act: (f: () => Promise<unknown>) => Promise<void> }) {
  const { t } = useTranslation();
  const [edit, setEdit] = useState({ maker_fee: m.maker_fee, taker_fee: m.taker_fee, min_notional: m.min_notional, min_qty: m.min_qty });
  const status = (s: string) => act(() => api(`/api/v1/admin/markets/${m.symbol}/status`, { method: 'POST', json: { status: s } }));
  const save = () => act(() => api(`/api/v1/admin/markets/${m.symbol}`, { method: 'PATCH', json: edit }));
  const input = (k: keyof typeof edit, label: string) => (
    <td>
      <label className="sr-only" htmlFor={`${m.symbol}-${k}`}>{`${m.symbol} ${label}`}</label>
      <input id={`${m.symbol}-${k}`} className="input num w-28 py-0.5 text-xs" value={edit[k]} onChange={(e) => setEdit({ ...edit, [k]: e.target.value })} />
    </td>
  );
  return (
    <tr data-testid={`admin-market-${m.symbol}`}>
      <th scope="row" className="px-2 text-start">{m.symbol}</th>
      <td>{t(`status.${m.status}`)}</td>
      {input('maker_fee', t('admin.makerFee'))}
      {input('taker_fee', t('admin.takerFee'))}
      {input('min_notional', t('admin.minNotional'))}
      {input('min_qty', t('admin.minQty'))}
      <td className="whitespace-nowrap">
        <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void save()}>{t('admin.save')}</button>{' '}
        <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void status('HALTED')}>{t('admin.halt')}</button>{' '}
        <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void status('CANCEL_ONLY')}>{t('admin.cancelOnly')}</button>{' '}
        <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void status('TRADING')}>{t('admin.resume')}</button>
      </td>
    </tr>
  );
}

function Markets() {
  const { t } = useTranslation();
  const q = useQuery({ queryKey: ['admin', 'markets'], queryFn: () => api<{ markets: MarketView[] }>('/api/v1/admin/markets') });
  const [msg, act] = useAct(['admin', 'markets']);
  const [form, setForm] = useState({ symbol: '', base_asset: '', quote_asset: '', tick_size: '0.01', step_size: '0.0001', max_price: '1000000', max_qty: '9000' });
  const create = (e: FormEvent) => {
    e.preventDefault();
    void act(() => api('/api/v1/admin/markets', { method: 'POST', json: form }));
  };
  const fields: [keyof typeof form, string][] = [['symbol', 'admin.symbol'], ['base_asset', 'admin.base'], ['quote_asset', 'admin.quote'], ['tick_size', 'admin.tick'], ['step_size', 'admin.step'], ['max_price', 'admin.maxPrice'], ['max_qty', 'admin.maxQty']];
  return (
    <>
      <Section title={t('admin.markets')}>
        {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : (
          <div className="overflow-x-auto">
            <table className="grid-table text-xs">
              <thead><tr><th scope="col">{t('admin.symbol')}</th><th scope="col">{t('admin.status')}</th><th scope="col">{t('admin.makerFee')}</th><th scope="col">{t('admin.takerFee')}</th><th scope="col">{t('admin.minNotional')}</th><th scope="col">{t('admin.minQty')}</th><th scope="col"><span className="sr-only">{t('admin.action')}</span></th></tr></thead>
              <tbody>{q.data.markets.map((m) => <MarketRow key={m.symbol} m={m} act={act} />)}</tbody>
            </table>
          </div>
        )}
        {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
      </Section>
      <Section title={t('admin.newMarket')}>
        <form onSubmit={create} className="grid gap-2 sm:grid-cols-4">
          {fields.map(([k, label]) => <Field key={k} label={t(label)} required value={form[k]} onChange={(e) => setForm({ ...form, [k]: e.target.value })} />)}
          <div className="self-end"><button type="submit" className="btn-accent">{t('admin.create')}</button></div>
        </form>
      </Section>
    </>
  );
}

function Assets() {
  const { t } = useTranslation();
  const q = useQuery({ queryKey: ['admin', 'assets'], queryFn: () => api<{ assets: { id: number; code: string; decimals: number }[] }>('/api/v1/admin/assets') });
  const [msg, act] = useAct(['admin', 'assets']);
  const [code, setCode] = useState('');
  const [decimals, setDecimals] = useState('8');
  const create = (e: FormEvent) => {
    e.preventDefault();
    void act(() => api('/api/v1/admin/assets', { method: 'POST', json: { code: code.trim(), decimals: Number(decimals) } }));
  };
  return (
    <Section title={t('admin.assets')}>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : (
        <table className="grid-table mb-3 text-xs">
          <thead><tr><th scope="col">{t('admin.code')}</th><th scope="col">{t('admin.decimals')}</th></tr></thead>
          <tbody>{q.data.assets.map((a) => <tr key={a.id}><td>{a.code}</td><td className="num">{a.decimals}</td></tr>)}</tbody>
        </table>
      )}
      <form onSubmit={create} className="flex flex-wrap items-end gap-2" aria-label={t('admin.newAsset')}>
        <Field label={t('admin.code')} required value={code} onChange={(e) => setCode(e.target.value)} />
        <Field label={t('admin.decimals')} inputMode="numeric" required value={decimals} onChange={(e) => setDecimals(e.target.value)} />
        <button type="submit" className="btn-accent">{t('admin.create')}</button>
      </form>
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
    </Section>
  );
}

interface Withdrawal {
  id: number;
  user_id: number | null;
  asset: string;
  amount: string;
  address: string;
  state: string;
  requested_at: number;
}

function Withdrawals() {
  const { t, i18n } = useTranslation();
  const q = useQuery({ queryKey: ['admin', 'withdrawals'], queryFn: () => api<{ withdrawals: Withdrawal[] }>('/api/v1/admin/withdrawals', { query: { state: 'requested', limit: 100 } }), refetchInterval: 10_000 });
  const [msg, act] = useAct(['admin', 'withdrawals']);
  return (
    <Section title={t('admin.withdrawals')}>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : q.data.withdrawals.length === 0 ? <p className="text-sm text-muted">{t('wallet.noneYet')}</p> : (
        <div className="overflow-x-auto">
          <table className="grid-table text-xs" data-testid="admin-withdrawals">
            <thead><tr><th scope="col">{t('wallet.when')}</th><th scope="col">{t('admin.user')}</th><th scope="col">{t('wallet.asset')}</th><th scope="col" className="text-right">{t('wallet.amount')}</th><th scope="col">{t('wallet.address')}</th><th scope="col"><span className="sr-only">{t('admin.action')}</span></th></tr></thead>
            <tbody>
              {q.data.withdrawals.map((w) => (
                <tr key={w.id} data-testid={`admin-withdrawal-${w.id}`}>
                  <td className="num">{dateTime(fromSecs(w.requested_at), i18n.language)}</td><td className="num">{w.user_id}</td><td>{w.asset}</td><td className="num text-right">{w.amount}</td><td className="max-w-48 truncate">{w.address}</td>
                  <td className="whitespace-nowrap">
                    <button type="button" className="btn-up px-2 py-0.5 text-xs" onClick={() => void act(() => api(`/api/v1/admin/withdrawals/${w.id}/approve`, { method: 'POST' }))}>{t('admin.approve')}</button>{' '}
                    <button type="button" className="btn-down px-2 py-0.5 text-xs" onClick={() => void act(() => api(`/api/v1/admin/withdrawals/${w.id}/reject`, { method: 'POST', json: null }))}>{t('admin.reject')}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
    </Section>
  );
}

interface AdminUser {
  id: number;
  email: string;
  role: string;
  frozen: boolean;
  totp_enabled: boolean;
  created_at: number;
  fees: { maker_fee: string; taker_fee: string } | null;
}

const USERS_PAGE = 50;

/** One user's row: freeze or unfreeze, and the fee tier (set or back to the markets' rates). */
function UserRow({ u, act }: { u: AdminUser; act: (f: () => Promise<unknown>) => Promise<void> }) {
  const { t, i18n } = useTranslation();
  const [maker, setMaker] = useState(u.fees?.maker_fee ?? '');
  const [taker, setTaker] = useState(u.fees?.taker_fee ?? '');
  const path = (p: string) => `/api/v1/admin/users/${u.id}/${p}`;
  const fee = (id: string, label: string, value: string, set: (v: string) => void) => (
    <td>
      <label className="sr-only" htmlFor={id}>{`${u.email} ${label}`}</label>
      <input id={id} className="input num w-24 py-0.5 text-xs" placeholder={t('admin.marketRate')} value={value} onChange={(e) => set(e.target.value)} />
    </td>
  );
  return (
    <tr data-testid={`admin-user-${u.id}`}>
      <td className="num">{u.id}</td>
      <th scope="row" className="px-2 text-start font-normal">{u.email}</th>
      <td>{u.role === 'admin' ? t('admin.roleAdmin') : t('admin.roleUser')}</td>
      <td>{u.totp_enabled ? t('security.on') : t('security.off')}</td>
      <td className="num whitespace-nowrap">{dateTime(fromSecs(u.created_at), i18n.language)}</td>
      <td className={u.frozen ? 'text-down' : 'text-up'}>{u.frozen ? t('admin.frozen') : t('admin.active')}</td>
      {fee(`user-${u.id}-maker`, t('admin.makerFee'), maker, setMaker)}
      {fee(`user-${u.id}-taker`, t('admin.takerFee'), taker, setTaker)}
      <td className="whitespace-nowrap">
        {u.frozen
          ? <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void act(() => api(path('unfreeze'), { method: 'POST' }))}>{t('admin.unfreeze')}</button>
          : <button type="button" className="btn-down px-2 py-0.5 text-xs" onClick={() => void act(() => api(path('freeze'), { method: 'POST' }))}>{t('admin.freeze')}</button>}{' '}
        <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void act(() => api(path('fees'), { method: 'PUT', json: { maker_fee: maker.trim(), taker_fee: taker.trim() } }))}>{t('admin.setFees')}</button>{' '}
        {u.fees && <button type="button" className="btn-ghost px-2 py-0.5 text-xs" onClick={() => void act(() => api(path('fees'), { method: 'DELETE' }))}>{t('admin.clearFees')}</button>}
      </td>
    </tr>
  );
}

function Users() {
  const { t } = useTranslation();
  const [msg, act] = useAct(['admin', 'users']);
  const [search, setSearch] = useState('');
  const [pages, setPages] = useState<number[]>([0]);
  const after = pages[pages.length - 1] ?? 0;
  const q = useQuery({ queryKey: ['admin', 'users', after], queryFn: () => api<{ users: AdminUser[] }>('/api/v1/admin/users', { query: { after_id: after || undefined, limit: USERS_PAGE } }) });
  const users = (q.data?.users ?? []).filter((u) => u.email.includes(search.trim().toLowerCase()) || String(u.id) === search.trim());
  const last = q.data?.users[q.data.users.length - 1];
  return (
    <Section title={t('admin.users')}>
      <div className="mb-2 flex flex-wrap items-end gap-2">
        <Field label={t('admin.searchUsers')} type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : (
        <div className="overflow-x-auto">
          <table className="grid-table text-xs" data-testid="admin-users">
            <thead><tr><th scope="col">{t('admin.userId')}</th><th scope="col">{t('auth.email')}</th><th scope="col">{t('admin.role')}</th><th scope="col">{t('security.twofa')}</th><th scope="col">{t('security.created')}</th><th scope="col">{t('admin.status')}</th><th scope="col">{t('admin.makerFee')}</th><th scope="col">{t('admin.takerFee')}</th><th scope="col"><span className="sr-only">{t('admin.action')}</span></th></tr></thead>
            <tbody>{users.map((u) => <UserRow key={`${u.id}-${u.frozen}-${u.fees?.maker_fee ?? ''}-${u.fees?.taker_fee ?? ''}`} u={u} act={act} />)}</tbody>
          </table>
        </div>
      )}
      <div className="mt-2 flex gap-2">
        {pages.length > 1 && <button type="button" className="btn-ghost" onClick={() => setPages(pages.slice(0, -1))}>{t('admin.previous')}</button>}
        {last && q.data?.users.length === USERS_PAGE && <button type="button" className="btn-ghost" onClick={() => setPages([...pages, last.id])}>{t('admin.next')}</button>}
      </div>
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
    </Section>
  );
}

function Audit() {
  const { t, i18n } = useTranslation();
  const q = useQuery({ queryKey: ['admin', 'audit'], queryFn: () => api<{ entries: { id: number; at: number; action: string; result: string; user_id: number | null; target: string | null }[] }>('/api/v1/admin/audit', { query: { limit: 100 } }) });
  return (
    <Section title={t('admin.audit')}>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : (
        <div className="max-h-[32rem] overflow-auto">
          <table className="grid-table text-xs">
            <thead><tr><th scope="col">{t('wallet.when')}</th><th scope="col">{t('admin.user')}</th><th scope="col">{t('admin.action')}</th><th scope="col">{t('admin.target')}</th><th scope="col">{t('admin.result')}</th></tr></thead>
            <tbody>{q.data.entries.map((e) => <tr key={e.id}><td className="num whitespace-nowrap">{dateTime(fromSecs(e.at), i18n.language)}</td><td className="num">{e.user_id ?? '–'}</td><td>{e.action}</td><td>{e.target ?? '–'}</td><td>{e.result}</td></tr>)}</tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

interface ReconcileAsset {
  asset: string;
  engine_total: string;
  ledger_total: string;
  difference: string;
  ledger_imbalance: string;
  ok: boolean;
}

interface ReconcileReport {
  ok: boolean;
  seq: number;
  checked_at: number;
  assets: ReconcileAsset[];
  disagreements: string[];
}

/** `GET /api/v1/admin/reconcile`: run on opening the tab and on demand. */
function Reconcile() {
  const { t, i18n } = useTranslation();
  const q = useQuery({ queryKey: ['admin', 'reconcile'], queryFn: () => api<ReconcileReport>('/api/v1/admin/reconcile'), staleTime: Infinity });
  const r = q.data;
  return (
    <Section title={t('admin.reconcile')}>
      <p className="mb-2 text-sm">{t('admin.reconcileHint')}</p>
      <button type="button" className="btn-ghost mb-2" disabled={q.isFetching} onClick={() => void q.refetch()}>{t('admin.reconcileRun')}</button>
      {q.error ? <ErrorNotice error={q.error} /> : !r || q.isFetching ? <Loading /> : (
        <div data-testid="reconcile-report">
          <p className={`mb-2 text-sm font-semibold ${r.ok ? 'text-up' : 'text-down'}`} role="status" data-testid="reconcile-result">
            {r.ok ? t('admin.reconcileOk') : t('admin.reconcileBad', { count: r.disagreements.length })}
          </p>
          <p className="num mb-2 text-xs text-muted">{t('admin.reconcileAt', { seq: r.seq, when: dateTime(r.checked_at, i18n.language) })}</p>
          <div className="overflow-x-auto">
            <table className="grid-table text-xs">
              <thead><tr><th scope="col">{t('admin.code')}</th><th scope="col">{t('admin.engineTotal')}</th><th scope="col">{t('admin.ledgerTotal')}</th><th scope="col">{t('admin.difference')}</th><th scope="col">{t('admin.imbalance')}</th><th scope="col">{t('admin.status')}</th></tr></thead>
              <tbody>{r.assets.map((a) => (
                <tr key={a.asset} data-testid={`reconcile-${a.asset}`}>
                  <th scope="row" className="px-2 text-start">{a.asset}</th>
                  <td className="num">{a.engine_total}</td>
                  <td className="num">{a.ledger_total}</td>
                  <td className="num">{a.difference}</td>
                  <td className="num">{a.ledger_imbalance}</td>
                  <td className={a.ok ? 'text-up' : 'text-down'}>{a.ok ? t('admin.agrees') : t('admin.disagrees')}</td>
                </tr>
              ))}</tbody>
            </table>
          </div>
          {r.disagreements.length > 0 && <ul className="mt-2 list-disc ps-5 text-xs text-down">{r.disagreements.map((d) => <li key={d}>{d}</li>)}</ul>}
        </div>
      )}
      <p className="mt-3 text-xs text-muted">{t('admin.reconcileCli')}</p>
      <pre className="num rounded bg-panel2 p-2 text-xs">flowex admin reconcile</pre>
    </Section>
  );
}

export function Admin() {
  const { t } = useTranslation();
  const user = useUser();
  const [tab, setTab] = useState<'markets' | 'assets' | 'withdrawals' | 'users' | 'audit' | 'reconcile'>('withdrawals');
  if (!user) return <Loading />;
  if (user.role !== 'admin') return <p className="p-4" role="alert">{t('admin.forbidden')}</p>;
  const tabs: [typeof tab, string][] = [['withdrawals', t('admin.withdrawals')], ['markets', t('admin.markets')], ['assets', t('admin.assets')], ['users', t('admin.users')], ['audit', t('admin.audit')], ['reconcile', t('admin.reconcile')]];
  return (
    <div className="mx-auto max-w-6xl p-3">
      <h1 className="mb-3 text-xl font-semibold">{t('admin.title')}</h1>
      <div className="mb-3"><Tabs label={t('admin.title')} value={tab} onChange={setTab} tabs={tabs} /></div>
      {tab === 'markets' && <Markets />}
      {tab === 'assets' && <Assets />}
      {tab === 'withdrawals' && <Withdrawals />}
      {tab === 'users' && <Users />}
      {tab === 'audit' && <Audit />}
      {tab === 'reconcile' && <Reconcile />}
    </div>
  );
}
