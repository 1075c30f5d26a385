// The one HTTP client of the UI: same-origin fetches of /api/v3 (Binance
// shapes) and /api/v1 (native shapes), with the session's Bearer token and
// refresh-token rotation.

/** An error the API answered: Binance `{code,msg}` or native `{error:{code,message}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface UserView {
  id: number;
  email: string;
  role: string;
  totp_enabled: boolean;
  created_at: number;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
  user: UserView;
}

type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  query?: Query;
  /** A form body (/api/v3 takes its parameters like Binance). */
  form?: Query;
  /** A JSON body (/api/v1). */
  json?: unknown;
  /** Send the session's token (default: when signed in). */
  auth?: boolean;
  /** Answer the raw text instead of JSON (CSV export). */
  text?: boolean;
}

function encode(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  return p.toString();
}

const REFRESH_KEY = 'flowex.refresh';

/**
 * The signed-in session: the access token lives in memory only, the
 * refresh token in localStorage (so a reload keeps the session). Each
 * refresh rotates both; a refused refresh ends the session.
 */
class Session {
  private access: string | null = null;
  private expiresAt = 0;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<(user: UserView | null) => void>();
  user: UserView | null = null;

  onChange(cb: (user: UserView | null) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private emit(): void {
    for (const cb of this.listeners) cb(this.user);
  }

  get hasRefreshToken(): boolean {
    return localStorage.getItem(REFRESH_KEY) !== null;
  }

  set(tokens: Tokens): void {
    this.access = tokens.access_token;
    // Refresh a little before the token expires.
    this.expiresAt = Date.now() + Math.max(5, tokens.expires_in - 30) * 1000;
    localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    this.user = tokens.user;
    this.emit();
  }

  setUser(user: UserView): void {
    this.user = user;
    this.emit();
  }

  clear(): void {
    this.access = null;
    this.expiresAt = 0;
    localStorage.removeItem(REFRESH_KEY);
    this.user = null;
    this.emit();
  }

  /** A valid access token, refreshing first when it expired; null when signed out. */
  async token(): Promise<string | null> {
    if (this.access && Date.now() < this.expiresAt) return this.access;
    if (!this.hasRefreshToken) return null;
    return (await this.refresh()) ? this.access : null;
  }

  /** Rotates the token pair once (concurrent callers share the request). */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const refresh_token = localStorage.getItem(REFRESH_KEY);
    if (!refresh_token) return false;
    const res = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token }),
    }).catch(() => null);
    if (res === null) return false; // offline: keep the refresh token, try later
    if (!res.ok) {
      this.clear();
      return false;
    }
    this.set((await res.json()) as Tokens);
    return true;
  }
}

export const session = new Session();

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as {
      code?: number | string;
      msg?: string;
      error?: { code?: string; message?: string };
    };
    if (body.error) {
      return new ApiError(res.status, body.error.code ?? String(res.status), body.error.message ?? text);
    }
    if (body.msg !== undefined) return new ApiError(res.status, String(body.code ?? res.status), body.msg);
  } catch {
    // not JSON: fall through
  }
  return new ApiError(res.status, String(res.status), text || res.statusText);
}

async function send(path: string, o: RequestOptions, token: string | null): Promise<Response> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (o.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = encode(o.form);
  } else if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  }
  if (token) headers.authorization = `Bearer ${token}`;
  const q = o.query ? encode(o.query) : '';
  return fetch(q ? `${path}?${q}` : path, { method: o.method ?? 'GET', headers, body });
}

/** One API call; a 401 with a token refreshes once and retries. */
export async function api<T>(path: string, o: RequestOptions = {}): Promise<T> {
  const wantsAuth = o.auth ?? true;
  let token = wantsAuth ? await session.token() : null;
  let res = await send(path, o, token);
  if (res.status === 401 && token) {
    token = (await session.refresh()) ? await session.token() : null;
    if (token) res = await send(path, o, token);
  }
  if (!res.ok) throw await errorOf(res);
  if (o.text) return (await res.text()) as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Signs in; with 2FA on, the first call without a code answers `totp_required`. */
/** Logs in; `new_password` only after 403 `password_expired` (password rotation). */
export async function login(email: string, password: string, totp_code?: string, new_password?: string): Promise<UserView> {
  const tokens = await api<Tokens>('/api/v1/auth/login', {
    method: 'POST',
    json: { email, password, totp_code: totp_code || undefined, new_password: new_password || undefined },
    auth: false,
  });
  session.set(tokens);
  return tokens.user;
}

export async function logout(): Promise<void> {
  try {
    await api('/api/v1/auth/logout', { method: 'POST' });
  } finally {
    session.clear();
  }
}

/** At start-up: a stored refresh token becomes a session again. */
export async function resume(): Promise<UserView | null> {
  if (!session.hasRefreshToken) return null;
  if (!(await session.refresh())) return null;
  return session.user;
}
