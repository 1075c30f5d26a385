import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../lib/api';
import { useAccount, useMarkets, useUser, useUserRefetch } from '../lib/hooks';
import { dec, fmt, sum, ZERO, type Dec } from '../lib/decimal';
import { dateTime, errorText, ErrorNotice, Field, fromSecs, Loading, Notice, Section } from '../components/ui';
import { useTickers } from './Markets';

interface Withdrawal {
  id: number;
  asset: string;
  amount: string;
  fee: string;
  address: string;
  state: string;
  requested_at: number;
}
interface Deposit {
  key: string;
  asset: string;
  amount: string;
  state: string;
  source: string;
  created_at: number;
}
interface LedgerEntry {
  seq: number;
  idx: number;
  time: number;
  asset: string;
  amount: string;
  cause: string;
}

/** Value in USDT from the last prices of XUSDT (and USDTX) markets. */
function useUsdtPrices(): (asset: string) => Dec | null {
  const { markets } = useMarkets();
  const usdt = markets?.filter((m) => m.quote === 'USDT').map((m) => m.symbol);
  const tickers = useTickers(usdt);
  return (asset) => {
    if (asset === 'USDT') return dec('1');
    const t = tickers.get(`${asset}USDT`);
    return t ? dec(t.c) : null;
  };
}

/** Every asset a market trades, so a new account can take demo funds of each. */
function useAssets(): string[] {
  const { markets } = useMarkets();
  return [...new Set((markets ?? []).flatMap((m) => [m.base, m.quote]))].sort();
}

function Balances() {
  const assets = useAssets();
  const { t, i18n } = useTranslation();
  const account = useAccount();
  const price = useUsdtPrices();
  const qc = useQueryClient();
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const lng = i18n.language;
  if (account.error) return <ErrorNotice error={account.error} onRetry={() => void account.refetch()} />;
  if (!account.data) return <Loading />;
  const listed = new Map(account.data.balances.map((b) => [b.asset, b]));
  for (const a of assets) if (!listed.has(a)) listed.set(a, { asset: a, free: '0.00000000', locked: '0.00000000' });
  const rows = [...listed.values()].sort((x, y) => x.asset.localeCompare(y.asset)).map((b) => {
    const total = dec(b.free).plus(dec(b.locked));
    const p = price(b.asset);
    return { ...b, total, value: p ? total.times(p) : null };
  });
  const estimated = sum(rows.map((r) => r.value ?? ZERO));
  const faucet = async (asset: string) => {
    setMsg(null);
    try {
      const r = await api<{ asset: string; amount: string; credited: boolean }>('/api/v1/wallet/faucet', { method: 'POST', json: { asset } });
      setMsg({ kind: 'ok', text: t('wallet.faucetDone', { amount: r.amount, asset: r.asset }) });
    } catch (e) {
      setMsg({ kind: 'error', text: e instanceof ApiError && e.status === 429 ? t('wallet.faucetAgain') : errorText(e) });
    }
    void qc.invalidateQueries({ queryKey: ['private'] });
  };
  return (
    <Section title={t('wallet.balances')} actions={<span className="text-sm text-muted">{t('wallet.estimated')}: <span className="num text-fg" data-testid="estimated">{fmt(estimated, 2, lng)} USDT</span></span>}>
      <div className="overflow-x-auto">
        <table className="grid-table" data-testid="balances">
          <thead>
            <tr>
              <th scope="col">{t('wallet.asset')}</th>
              <th scope="col" className="text-right">{t('wallet.available')}</th>
              <th scope="col" className="text-right">{t('wallet.locked')}</th>
              <th scope="col" className="text-right">{t('wallet.total')}</th>
              <th scope="col" className="text-right">{t('wallet.value')}</th>
              <th scope="col"><span className="sr-only">{t('wallet.faucet')}</span></th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.asset} data-testid={`balance-${r.asset}`}>
                <th scope="row" className="px-2 text-start font-medium">{r.asset}</th>
                <td className="num text-right" data-testid={`free-${r.asset}`}>{r.free}</td>
                <td className="num text-right" data-testid={`locked-${r.asset}`}>{r.locked}</td>
                <td className="num text-right">{fmt(r.total, 8, lng)}</td>
                <td className="num text-right">{r.value ? fmt(r.value, 2, lng) : '–'}</td>
                <td className="text-right">
                  <button type="button" className="btn-ghost py-0.5 text-xs" onClick={() => void faucet(r.asset)}>
                    {t('wallet.faucet')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
    </Section>
  );
}

function Withdraw({ assets }: { assets: string[] }) {
  const { t } = useTranslation();
  const user = useUser();
  const qc = useQueryClient();
  const [asset, setAsset] = useState(assets[0] ?? 'BTC');
  const [amount, setAmount] = useState('');
  const [address, setAddress] = useState('');
  const [code, setCode] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMsg(null);
    try {
      const r = await api<{ withdrawal: Withdrawal }>('/api/v1/wallet/withdrawals', { method: 'POST', json: { asset, amount: amount.trim(), address: address.trim(), totp_code: code.trim() || undefined } });
      setMsg({ kind: 'ok', text: t('wallet.requested', { id: r.withdrawal.id, state: t(`wstate.${r.withdrawal.state}`, { defaultValue: r.withdrawal.state }) }) });
      setAmount('');
      setCode('');
    } catch (err) {
      setMsg({ kind: 'error', text: errorText(err) });
    }
    void qc.invalidateQueries({ queryKey: ['private'] });
  };
  return (
    <Section title={t('wallet.withdraw')}>
      {!user?.totp_enabled && <p className="mb-2 text-sm text-muted">{t('wallet.needs2fa')}</p>}
      <form onSubmit={(e) => void submit(e)} className="grid gap-3 sm:grid-cols-2" aria-label={t('wallet.withdraw')}>
        <div>
          <label htmlFor="w-asset" className="label">{t('wallet.asset')}</label>
          <select id="w-asset" className="input" value={asset} onChange={(e) => setAsset(e.target.value)}>
            {assets.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </div>
        <Field label={t('wallet.amount')} name="amount" inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
        <Field label={t('wallet.address')} name="address" required value={address} onChange={(e) => setAddress(e.target.value)} />
        <Field label={t('wallet.totp')} name="totp" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
        <div className="sm:col-span-2">
          <button type="submit" className="btn-accent">{t('wallet.request')}</button>
          {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
        </div>
      </form>
    </Section>
  );
}

function History() {
  const { t, i18n } = useTranslation();
  const lng = i18n.language;
  const refetchInterval = useUserRefetch(10_000);
  const qc = useQueryClient();
  const w = useQuery({ queryKey: ['private', 'withdrawals'], queryFn: () => api<{ withdrawals: Withdrawal[] }>('/api/v1/wallet/withdrawals', { query: { limit: 50 } }), refetchInterval });
  const d = useQuery({ queryKey: ['private', 'deposits'], queryFn: () => api<{ deposits: Deposit[] }>('/api/v1/wallet/deposits', { query: { limit: 50 } }), refetchInterval });
  const cancel = async (id: number) => {
    await api(`/api/v1/wallet/withdrawals/${id}`, { method: 'DELETE' }).catch(() => undefined);
    void qc.invalidateQueries({ queryKey: ['private'] });
  };
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <Section title={t('wallet.withdrawals')}>
        {w.error ? <ErrorNotice error={w.error} /> : !w.data ? <Loading /> : w.data.withdrawals.length === 0 ? <p className="text-sm text-muted">{t('wallet.noneYet')}</p> : (
          <div className="overflow-x-auto">
            <table className="grid-table text-xs" data-testid="withdrawals">
              <thead><tr><th scope="col">{t('wallet.when')}</th><th scope="col">{t('wallet.asset')}</th><th scope="col" className="text-right">{t('wallet.amount')}</th><th scope="col" className="text-right">{t('wallet.fee')}</th><th scope="col">{t('wallet.state')}</th><th scope="col"><span className="sr-only">{t('wallet.cancelWithdrawal')}</span></th></tr></thead>
              <tbody>
                {w.data.withdrawals.map((x) => (
                  <tr key={x.id} data-testid={`withdrawal-${x.id}`}>
                    <td className="num whitespace-nowrap">{dateTime(fromSecs(x.requested_at), lng)}</td>
                    <td>{x.asset}</td>
                    <td className="num text-right">{x.amount}</td>
                    <td className="num text-right">{x.fee}</td>
                    <td data-testid="state">{t(`wstate.${x.state}`, { defaultValue: x.state })}</td>
                    <td>{x.state === 'requested' && <button type="button" className="text-accent underline" onClick={() => void cancel(x.id)}>{t('wallet.cancelWithdrawal')}</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title={t('wallet.deposits')}>
        {d.error ? <ErrorNotice error={d.error} /> : !d.data ? <Loading /> : d.data.deposits.length === 0 ? <p className="text-sm text-muted">{t('wallet.noneYet')}</p> : (
          <div className="overflow-x-auto">
            <table className="grid-table text-xs">
              <thead><tr><th scope="col">{t('wallet.when')}</th><th scope="col">{t('wallet.asset')}</th><th scope="col" className="text-right">{t('wallet.amount')}</th><th scope="col">{t('wallet.cause')}</th><th scope="col">{t('wallet.state')}</th></tr></thead>
              <tbody>
                {d.data.deposits.map((x) => (
                  <tr key={x.key}><td className="num whitespace-nowrap">{dateTime(fromSecs(x.created_at), lng)}</td><td>{x.asset}</td><td className="num text-right">{x.amount}</td><td>{x.source}</td><td>{x.state}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}

function Ledger() {
  const { t, i18n } = useTranslation();
  const lng = i18n.language;
  const q = useQuery({ queryKey: ['private', 'ledger'], queryFn: () => api<{ entries: LedgerEntry[] }>('/api/v1/wallet/ledger', { query: { limit: 100 } }) });
  const exportCsv = async () => {
    const text = await api<string>('/api/v1/wallet/ledger.csv', { text: true });
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'flowex-ledger.csv';
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <Section title={t('wallet.ledger')} actions={<button type="button" className="btn-ghost py-0.5 text-xs" onClick={() => void exportCsv()}>{t('wallet.exportCsv')}</button>}>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : q.data.entries.length === 0 ? <p className="text-sm text-muted">{t('wallet.noneYet')}</p> : (
        <div className="max-h-96 overflow-auto">
          <table className="grid-table text-xs">
            <thead><tr><th scope="col">{t('wallet.when')}</th><th scope="col">{t('wallet.asset')}</th><th scope="col" className="text-right">{t('wallet.amount')}</th><th scope="col">{t('wallet.cause')}</th></tr></thead>
            <tbody>
              {q.data.entries.map((e) => (
                <tr key={`${e.seq}-${e.idx}`}><td className="num whitespace-nowrap">{dateTime(fromSecs(e.time), lng)}</td><td>{e.asset}</td><td className={`num text-right ${e.amount.startsWith('-') ? 'text-down' : 'text-up'}`}>{e.amount}</td><td>{e.cause}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

export function Wallet() {
  const { t } = useTranslation();
  const assets = useAssets();
  return (
    <div className="mx-auto max-w-6xl p-3">
      <h1 className="mb-3 text-xl font-semibold">{t('wallet.title')}</h1>
      <Balances />
      {assets.length > 0 && <Withdraw assets={assets} />}
      <History />
      <Ledger />
    </div>
  );
}
