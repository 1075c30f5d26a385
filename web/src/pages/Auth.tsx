import { useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ApiError, login } from '../lib/api';
import { errorText, Field, Notice } from '../components/ui';

function Card({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="mx-auto mt-10 w-full max-w-sm px-3">
      <div className="card p-6">
        <h1 className="mb-4 text-xl font-semibold">{title}</h1>
        {children}
      </div>
    </div>
  );
}

type SignInStep = 'password' | 'renew' | 'code';

export function SignIn() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<SignInStep>('password');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email, password, step === 'code' ? code.trim() : undefined, newPassword || undefined);
      navigate((location.state as { from?: string } | null)?.from ?? '/trade/BTCUSDT');
    } catch (err) {
      // The server asks for a new password (rotation) before the 2FA code.
      if (err instanceof ApiError && err.code === 'password_expired') setStep('renew');
      else if (err instanceof ApiError && err.code === 'totp_required') setStep('code');
      else setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const title = step === 'code' ? t('auth.totpTitle') : step === 'renew' ? t('auth.renewTitle') : t('auth.signInTitle');
  return (
    <Card title={title}>
      {notice && <Notice kind="ok">{t(notice)}</Notice>}
      <form onSubmit={(e) => void submit(e)} className="flex flex-col gap-3" aria-busy={busy}>
        {step === 'password' && (
          <>
            <Field label={t('auth.email')} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <Field label={t('auth.password')} type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </>
        )}
        {step === 'renew' && (
          <>
            <p className="text-sm">{t('auth.renewHint')}</p>
            <Field label={t('auth.newPassword')} hint={t('auth.passwordHint')} type="password" autoComplete="new-password" autoFocus required minLength={10} value={newPassword} onChange={(e) => setNewPassword(e.target.value)} />
          </>
        )}
        {step === 'code' && (
          <Field label={t('auth.code')} hint={t('auth.totpHint')} inputMode="numeric" autoComplete="one-time-code" autoFocus required value={code} onChange={(e) => setCode(e.target.value)} />
        )}
        {error && <Notice kind="error">{error}</Notice>}
        <button type="submit" className="btn-accent" disabled={busy}>
          {step === 'code' ? t('auth.verify') : step === 'renew' ? t('auth.renewSubmit') : t('auth.submitSignIn')}
        </button>
      </form>
      <p className="mt-4 text-sm text-muted">
        {t('auth.noAccount')}{' '}
        <Link className="text-accent underline" to="/signup">
          {t('nav.signUp')}
        </Link>
      </p>
    </Card>
  );
}

export function SignUp() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('/api/v1/auth/register', { method: 'POST', json: { email, password }, auth: false });
      await login(email, password);
      navigate('/wallet');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title={t('auth.signUpTitle')}>
      <form onSubmit={(e) => void submit(e)} className="flex flex-col gap-3" aria-busy={busy}>
        <Field label={t('auth.email')} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field label={t('auth.password')} hint={t('auth.passwordHint')} type="password" autoComplete="new-password" required minLength={10} value={password} onChange={(e) => setPassword(e.target.value)} />
        {error && <Notice kind="error">{error}</Notice>}
        <button type="submit" className="btn-accent" disabled={busy}>
          {t('auth.submitSignUp')}
        </button>
      </form>
      <p className="mt-4 text-sm text-muted">
        {t('auth.haveAccount')}{' '}
        <Link className="text-accent underline" to="/signin">
          {t('nav.signIn')}
        </Link>
      </p>
    </Card>
  );
}
