import { useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import QRCode from 'qrcode';
import { api, session, type UserView } from '../lib/api';
import { useUser } from '../lib/hooks';
import { dateTime, errorText, ErrorNotice, Field, fromSecs, Loading, Notice, Section } from '../components/ui';

type Msg = { kind: 'ok' | 'error'; text: string } | null;

async function refreshMe(): Promise<void> {
  session.setUser(await api<UserView>('/api/v1/auth/me'));
}

function TwoFactor() {
  const { t } = useTranslation();
  const user = useUser();
  const [enrol, setEnrol] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [backup, setBackup] = useState<string[] | null>(null);
  const [msg, setMsg] = useState<Msg>(null);
  useEffect(() => {
    if (enrol) void QRCode.toDataURL(enrol.otpauth_uri, { margin: 1, width: 192 }).then(setQr);
  }, [enrol]);
  const run = async (f: () => Promise<void>) => {
    setMsg(null);
    try {
      await f();
    } catch (e) {
      setMsg({ kind: 'error', text: errorText(e) });
    }
  };
  const start = () => run(async () => setEnrol(await api('/api/v1/account/2fa/enroll', { method: 'POST', json: {} })));
  const confirm = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const r = await api<{ backup_codes: string[] }>('/api/v1/account/2fa/confirm', { method: 'POST', json: { code: code.trim() } });
      setBackup(r.backup_codes);
      setEnrol(null);
      setCode('');
      await refreshMe();
    });
  };
  const disable = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api('/api/v1/account/2fa/disable', { method: 'POST', json: { code: code.trim() } });
      setCode('');
      await refreshMe();
    });
  };
  return (
    <Section title={t('security.twofa')} actions={<span className={`text-sm ${user?.totp_enabled ? 'text-up' : 'text-muted'}`} data-testid="totp-state">{user?.totp_enabled ? t('security.on') : t('security.off')}</span>}>
      {backup && (
        <div className="mb-3">
          <p className="mb-2 text-sm">{t('security.backup')}</p>
          <ul className="num grid grid-cols-2 gap-1 text-sm sm:grid-cols-5" data-testid="backup-codes">
            {backup.map((c) => <li key={c}>{c}</li>)}
          </ul>
          <button type="button" className="btn-ghost mt-2" onClick={() => setBackup(null)}>{t('security.done')}</button>
        </div>
      )}
      {!user?.totp_enabled && !enrol && !backup && <button type="button" className="btn-accent" onClick={() => void start()}>{t('security.enable')}</button>}
      {enrol && (
        <form onSubmit={confirm} className="flex flex-col gap-3 sm:flex-row sm:items-start">
          {qr && <img src={qr} alt="QR" width={192} height={192} className="rounded bg-white p-1" />}
          <div className="flex flex-col gap-2">
            <p className="text-sm">{t('security.scan')}</p>
            <code className="num break-all text-sm" data-testid="totp-secret">{enrol.secret}</code>
            <Field label={t('auth.code')} inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
            <button type="submit" className="btn-accent">{t('security.confirm')}</button>
          </div>
        </form>
      )}
      {user?.totp_enabled && !backup && (
        <form onSubmit={disable} className="flex flex-wrap items-end gap-2">
          <Field label={t('auth.code')} inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          <button type="submit" className="btn-ghost">{t('security.disable')}</button>
        </form>
      )}
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
    </Section>
  );
}

interface ApiKey {
  id: number;
  api_key: string;
  label: string;
  permissions: string[];
  ip_allow: string[];
  created_at: number;
  last_used_at: number | null;
}

function ApiKeys() {
  const { t, i18n } = useTranslation();
  const user = useUser();
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: ['private', 'apiKeys'], queryFn: () => api<{ api_keys: ApiKey[] }>('/api/v1/account/api-keys') });
  const [label, setLabel] = useState('');
  const [perms, setPerms] = useState<string[]>(['READ', 'TRADE']);
  const [ips, setIps] = useState('');
  const [code, setCode] = useState('');
  const [secret, setSecret] = useState<{ key: string; secret: string } | null>(null);
  const [msg, setMsg] = useState<Msg>(null);
  const lng = i18n.language;
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setMsg(null);
    try {
      const ip_allow = ips.split(',').map((s) => s.trim()).filter(Boolean);
      const r = await api<{ api_key: string; secret: string }>('/api/v1/account/api-keys', { method: 'POST', json: { label: label.trim(), permissions: perms, ip_allow, totp_code: code.trim() || undefined } });
      setSecret({ key: r.api_key, secret: r.secret });
      setLabel('');
      setCode('');
    } catch (err) {
      setMsg({ kind: 'error', text: errorText(err) });
    }
    void qc.invalidateQueries({ queryKey: ['private', 'apiKeys'] });
  };
  const remove = async (id: number) => {
    await api(`/api/v1/account/api-keys/${id}`, { method: 'DELETE' }).catch((e: unknown) => setMsg({ kind: 'error', text: errorText(e) }));
    void qc.invalidateQueries({ queryKey: ['private', 'apiKeys'] });
  };
  return (
    <Section title={t('security.apiKeys')}>
      <form onSubmit={(e) => void create(e)} className="mb-3 grid gap-3 sm:grid-cols-2">
        <Field label={t('security.label')} required maxLength={64} value={label} onChange={(e) => setLabel(e.target.value)} />
        <Field label={t('security.ipAllow')} value={ips} onChange={(e) => setIps(e.target.value)} />
        <fieldset className="flex gap-3 text-sm">
          <legend className="label">{t('security.permissions')}</legend>
          {['READ', 'TRADE', 'WITHDRAW'].map((p) => (
            <label key={p} className="flex items-center gap-1">
              <input type="checkbox" checked={perms.includes(p)} onChange={(e) => setPerms(e.target.checked ? [...perms, p] : perms.filter((x) => x !== p))} />
              {p}
            </label>
          ))}
        </fieldset>
        {user?.totp_enabled && <Field label={t('wallet.totp')} inputMode="numeric" value={code} onChange={(e) => setCode(e.target.value)} />}
        <div className="sm:col-span-2"><button type="submit" className="btn-accent">{t('security.create')}</button></div>
      </form>
      {secret && (
        <div className="mb-3 rounded border border-accent p-3 text-sm" role="status">
          <p>{t('security.apiKey')}: <code className="num break-all">{secret.key}</code></p>
          <p>{t('security.secretOnce')} <code className="num break-all" data-testid="api-secret">{secret.secret}</code></p>
          <button type="button" className="btn-ghost mt-2" onClick={() => setSecret(null)}>{t('security.done')}</button>
        </div>
      )}
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
      {keys.error ? <ErrorNotice error={keys.error} /> : !keys.data ? <Loading /> : (
        <div className="overflow-x-auto">
          <table className="grid-table text-xs">
            <thead><tr><th scope="col">{t('security.label')}</th><th scope="col">{t('security.apiKey')}</th><th scope="col">{t('security.permissions')}</th><th scope="col">{t('security.created')}</th><th scope="col">{t('security.lastUsed')}</th><th scope="col"><span className="sr-only">{t('security.delete')}</span></th></tr></thead>
            <tbody>
              {keys.data.api_keys.map((k) => (
                <tr key={k.id}><td>{k.label}</td><td className="num">{k.api_key.slice(0, 12)}…</td><td>{k.permissions.join(', ')}</td><td className="num">{dateTime(fromSecs(k.created_at), lng)}</td><td className="num">{k.last_used_at ? dateTime(fromSecs(k.last_used_at), lng) : t('security.never')}</td><td><button type="button" className="text-accent underline" onClick={() => void remove(k.id)}>{t('security.delete')}</button></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

interface SessionView {
  id: number;
  created_at: number;
  last_used_at: number;
  current: boolean;
  ip: string | null;
  user_agent: string | null;
}

function Sessions() {
  const { t, i18n } = useTranslation();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['private', 'sessions'], queryFn: () => api<{ sessions: SessionView[] }>('/api/v1/account/sessions') });
  const lng = i18n.language;
  const revoke = async (id: number) => {
    await api(`/api/v1/account/sessions/${id}`, { method: 'DELETE' }).catch(() => undefined);
    void qc.invalidateQueries({ queryKey: ['private', 'sessions'] });
  };
  return (
    <Section title={t('security.sessions')}>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : (
        <div className="overflow-x-auto">
          <table className="grid-table text-xs" data-testid="sessions">
            <thead><tr><th scope="col">{t('security.device')}</th><th scope="col">{t('security.ip')}</th><th scope="col">{t('security.started')}</th><th scope="col">{t('security.lastUsed')}</th><th scope="col"><span className="sr-only">{t('security.revoke')}</span></th></tr></thead>
            <tbody>
              {q.data.sessions.map((s) => (
                <tr key={s.id}><td className="max-w-64 truncate">{s.user_agent ?? '–'}</td><td className="num">{s.ip ?? '–'}</td><td className="num">{dateTime(fromSecs(s.created_at), lng)}</td><td className="num">{dateTime(fromSecs(s.last_used_at), lng)}</td><td>{s.current ? <span className="text-muted">{t('security.thisOne')}</span> : <button type="button" className="text-accent underline" onClick={() => void revoke(s.id)}>{t('security.revoke')}</button>}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

interface ActivityRow {
  id: number;
  at: number;
  action: string;
  result: 'ok' | 'denied' | 'error';
  ip: string | null;
  user_agent: string | null;
}

const ACTIVITY_PAGE = 20;

/** The account's own audit rows (`GET /api/v1/account/activity`), paged back by time. */
function Activity() {
  const { t, i18n } = useTranslation();
  const [pages, setPages] = useState(1);
  const q = useQuery({
    queryKey: ['private', 'activity', pages],
    queryFn: () => api<{ activity: ActivityRow[] }>('/api/v1/account/activity', { query: { limit: Math.min(100, pages * ACTIVITY_PAGE) } }),
  });
  const lng = i18n.language;
  const rows = q.data?.activity ?? [];
  const label = (action: string) => t(`action.${action.replace(/\./g, '_')}`, { defaultValue: action });
  const resultClass = (r: ActivityRow['result']) => (r === 'ok' ? 'text-up' : 'text-down');
  return (
    <Section title={t('security.activity')}>
      <p className="mb-2 text-xs text-muted">{t('security.activityNote')}</p>
      {q.error ? <ErrorNotice error={q.error} /> : !q.data ? <Loading /> : rows.length === 0 ? <p className="text-sm text-muted">{t('wallet.noneYet')}</p> : (
        <div className="overflow-x-auto">
          <table className="grid-table text-xs" data-testid="activity">
            <thead><tr><th scope="col">{t('wallet.when')}</th><th scope="col">{t('security.event')}</th><th scope="col">{t('admin.result')}</th><th scope="col">{t('security.ip')}</th><th scope="col">{t('security.device')}</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}><td className="num whitespace-nowrap">{dateTime(r.at, lng)}</td><td>{label(r.action)}</td><td className={resultClass(r.result)}>{t(`security.${r.result}`)}</td><td className="num">{r.ip ?? '–'}</td><td className="max-w-64 truncate">{r.user_agent ?? '–'}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rows.length === pages * ACTIVITY_PAGE && pages * ACTIVITY_PAGE < 100 && (
        <button type="button" className="btn-ghost mt-2" onClick={() => setPages(pages + 1)}>{t('security.more')}</button>
      )}
    </Section>
  );
}

function Password() {
  const { t } = useTranslation();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [msg, setMsg] = useState<Msg>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMsg(null);
    try {
      await api('/api/v1/auth/password', { method: 'POST', json: { current_password: current, new_password: next } });
      setMsg({ kind: 'ok', text: t('security.changed') });
      setCurrent('');
      setNext('');
    } catch (err) {
      setMsg({ kind: 'error', text: errorText(err) });
    }
  };
  return (
    <Section title={t('security.password')}>
      <form onSubmit={(e) => void submit(e)} className="grid gap-3 sm:grid-cols-3 sm:items-end">
        <Field label={t('auth.currentPassword')} type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        <Field label={t('auth.newPassword')} type="password" autoComplete="new-password" required minLength={10} value={next} onChange={(e) => setNext(e.target.value)} />
        <button type="submit" className="btn-accent">{t('security.change')}</button>
      </form>
      {msg && <Notice kind={msg.kind}>{msg.text}</Notice>}
    </Section>
  );
}

export function Security() {
  const { t } = useTranslation();
  const user = useUser();
  if (!user) return <Loading />;
  return (
    <div className="mx-auto max-w-5xl p-3">
      <h1 className="mb-3 text-xl font-semibold">{t('security.title')}</h1>
      <TwoFactor />
      <ApiKeys />
      <Sessions />
      <Password />
      <Activity />
    </div>
  );
}
