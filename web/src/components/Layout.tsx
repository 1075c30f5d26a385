import { useState, type ReactNode } from 'react';
import { NavLink, Link, useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import { logout } from '../lib/api';
import { useMarketStatus, useUser, useUserEvents, useUserStatus } from '../lib/hooks';
import { combinedStatus } from '../lib/live';
import { LANGUAGES } from '../i18n';

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => (document.documentElement.classList.contains('dark') ? 'dark' : 'light'));
  const toggle = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.classList.toggle('dark', next === 'dark');
    localStorage.setItem('flowex.theme', next);
    setTheme(next);
  };
  return [theme, toggle];
}

function LiveBadge() {
  const { t } = useTranslation();
  const market = useMarketStatus();
  const user = useUserStatus();
  const signedIn = useUser() !== null;
  const status = combinedStatus(market, signedIn ? user : null);
  const color = status === 'live' ? 'bg-up' : status === 'polling' ? 'bg-accent' : 'bg-muted';
  const title = signedIn ? t('nav.streams', { market: t(`nav.${market}`), user: t(`nav.${user}`) }) : t(`nav.${status}`);
  return (
    <span className="hidden items-center gap-1 text-xs text-muted sm:flex" title={title} data-testid="live-status">
      <span aria-hidden="true" className={`inline-block h-2 w-2 rounded-full ${color}`} />
      {t(`nav.${status}`)}
    </span>
  );
}

function NavLinks({ onClick }: { onClick?: () => void }) {
  const { t } = useTranslation();
  const user = useUser();
  const cls = ({ isActive }: { isActive: boolean }) => `rounded px-2 py-1 text-sm ${isActive ? 'text-accent' : 'text-fg hover:text-accent'}`;
  return (
    <>
      <NavLink to="/" end className={cls} onClick={onClick}>
        {t('nav.markets')}
      </NavLink>
      <NavLink to="/trade/BTCUSDT" className={cls} onClick={onClick}>
        {t('nav.trade')}
      </NavLink>
      {user && (
        <>
          <NavLink to="/wallet" className={cls} onClick={onClick}>
            {t('nav.wallet')}
          </NavLink>
          <NavLink to="/security" className={cls} onClick={onClick}>
            {t('nav.security')}
          </NavLink>
          {user.role === 'admin' && (
            <NavLink to="/admin" className={cls} onClick={onClick}>
              {t('nav.admin')}
            </NavLink>
          )}
        </>
      )}
    </>
  );
}

function Account() {
  const { t } = useTranslation();
  const user = useUser();
  const navigate = useNavigate();
  if (!user) {
    return (
      <div className="flex items-center gap-2">
        <Link to="/signin" className="btn-ghost">
          {t('nav.signIn')}
        </Link>
        <Link to="/signup" className="btn-accent">
          {t('nav.signUp')}
        </Link>
      </div>
    );
  }
  return (
    <div className="flex items-center gap-2">
      <span className="hidden max-w-40 truncate text-sm text-muted md:inline" data-testid="user-email">
        {user.email}
      </span>
      <button type="button" className="btn-ghost" onClick={() => void logout().finally(() => navigate('/signin'))}>
        {t('nav.signOut')}
      </button>
    </div>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { t, i18n } = useTranslation();
  const [theme, toggleTheme] = useTheme();
  const [open, setOpen] = useState(false);
  useUserEvents();
  return (
    <div className="flex min-h-full flex-col">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:z-50 focus:bg-panel focus:p-2">
        {t('app.skip')}
      </a>
      <header className="flex flex-wrap items-center gap-3 border-b border-line bg-panel px-3 py-2">
        <Link to="/" className="flex items-center gap-2 font-semibold text-accent">
          <img src="/icon.svg" alt="" width="24" height="24" />
          {t('app.name')}
        </Link>
        <button type="button" className="btn-ghost md:hidden" aria-expanded={open} aria-controls="main-nav" onClick={() => setOpen(!open)}>
          {t('nav.menu')}
        </button>
        <nav id="main-nav" aria-label={t('nav.menu')} className={`${open ? 'flex' : 'hidden'} w-full flex-col gap-1 md:flex md:w-auto md:flex-row md:items-center`}>
          <NavLinks onClick={() => setOpen(false)} />
        </nav>
        <div className="ml-auto flex items-center gap-2">
          <LiveBadge />
          <label className="sr-only" htmlFor="lang">
            {t('nav.language')}
          </label>
          <select id="lang" className="input w-auto py-1" value={i18n.language} onChange={(e) => void i18n.changeLanguage(e.target.value)}>
            {LANGUAGES.map((l) => (
              <option key={l.code} value={l.code}>
                {l.label}
              </option>
            ))}
          </select>
          <button type="button" className="btn-ghost" onClick={toggleTheme} aria-label={`${t('nav.theme')}: ${theme === 'dark' ? t('nav.dark') : t('nav.light')}`}>
            {theme === 'dark' ? '☾' : '☀'}
          </button>
          <Account />
        </div>
      </header>
      <main id="main" className="flex-1">
        {children}
      </main>
    </div>
  );
}
