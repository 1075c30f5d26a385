// The UI's one live layer. Market data comes from Binance's combined
// stream (`/stream`, SUBSCRIBE/UNSUBSCRIBE, `{stream,data}` messages), the
// user's own events from the WebSocket API (`/ws-api/v3`: session.logon
// with the access token, then userDataStream.subscribe). When a WebSocket
// cannot be opened (a server without streams, a proxy that drops them),
// every watcher polls the REST API instead and retries the WebSocket with
// a backoff, so each screen works either way.
import { api, session } from './api';
import { LocalBook, type DepthDiff, type DepthSnapshot } from './book';

export type LiveStatus = 'connecting' | 'live' | 'polling';
type Listener = (data: unknown) => void;

/** Both streams' state as one: signed in, "Live" needs the market stream and the user's own. */
export function combinedStatus(market: LiveStatus, user: LiveStatus | null): LiveStatus {
  if (user === null || market === user) return market;
  return market === 'polling' || user === 'polling' ? 'polling' : 'connecting';
}

const wsBase = (): string => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
const RETRY_FIRST_MS = 3_000;
const RETRY_MAX_MS = 60_000;

class StatusSource {
  // REST serves every screen until a WebSocket opens.
  status: LiveStatus = 'polling';
  private statusListeners = new Set<(s: LiveStatus) => void>();
  onStatus(cb: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(cb);
    return () => this.statusListeners.delete(cb);
  }
  protected setStatus(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    for (const cb of [...this.statusListeners]) cb(s);
  }
}

/** One combined-stream connection shared by every market watcher. */
class StreamHub extends StatusSource {
  private ws: WebSocket | null = null;
  private subs = new Map<string, Set<Listener>>();
  private nextId = 1;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  subscribe(stream: string, cb: Listener): () => void {
    let set = this.subs.get(stream);
    if (!set) {
      set = new Set();
      this.subs.set(stream, set);
      this.send('SUBSCRIBE', [stream]);
    }
    set.add(cb);
    this.ensure();
    return () => {
      const s = this.subs.get(stream);
      if (!s) return;
      s.delete(cb);
      if (s.size === 0) {
        this.subs.delete(stream);
        this.send('UNSUBSCRIBE', [stream]);
      }
    };
  }

  /** Opens the connection if none is open or pending. */
  ensure(): void {
    if (this.ws || this.retryTimer) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${wsBase()}/stream`);
    } catch {
      this.failed();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = RETRY_FIRST_MS;
      if (this.subs.size > 0) this.send('SUBSCRIBE', [...this.subs.keys()]);
      this.setStatus('live');
    };
    ws.onmessage = (m) => this.dispatch(m.data);
    ws.onclose = () => {
      this.ws = null;
      this.failed();
    };
  }

  private failed(): void {
    this.setStatus('polling');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.ensure();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private send(method: string, params: string[]): void {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ method, params, id: this.nextId++ }));
    }
  }

  private dispatch(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: { stream?: string; data?: unknown };
    try {
      msg = JSON.parse(raw) as typeof msg;
    } catch {
      return;
    }
    if (!msg.stream) return;
    for (const cb of this.subs.get(msg.stream) ?? []) cb(msg.data);
  }
}

export const hub = new StreamHub();

/**
 * Runs `poll` every `everyMs` while the stream is not live (and once when
 * it becomes live, to catch up); errors slow the polling down. Returns a
 * stop function.
 */
function pollWhileDown(poll: () => Promise<void>, everyMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let delay = everyMs;
  const run = async (): Promise<void> => {
    timer = null;
    if (stopped) return;
    try {
      await poll();
      delay = everyMs;
    } catch {
      delay = Math.min(delay * 2, 30_000);
    }
    if (!stopped && hub.status !== 'live') timer = setTimeout(run, delay);
  };
  const off = hub.onStatus((s) => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (s === 'live') void poll().catch(() => undefined);
    else void run();
  });
  void run();
  return () => {
    stopped = true;
    off();
    if (timer) clearTimeout(timer);
  };
}

/** Binance's `24hrMiniTicker` fields the UI reads. */
export interface MiniTicker {
  s: string;
  c: string;
  o: string;
  h: string;
  l: string;
  v: string;
  q: string;
}

interface Ticker24 {
  symbol: string;
  lastPrice: string;
  openPrice: string;
  highPrice: string;
  lowPrice: string;
  volume: string;
  quoteVolume: string;
}

const toMini = (t: Ticker24): MiniTicker => ({
  s: t.symbol,
  c: t.lastPrice,
  o: t.openPrice,
  h: t.highPrice,
  l: t.lowPrice,
  v: t.volume,
  q: t.quoteVolume,
});

/** Every market's 24 h ticker (`!miniTicker@arr`), per symbol over REST when polling. */
export function watchTickers(symbols: string[], cb: (t: MiniTicker[]) => void): () => void {
  const off = hub.subscribe('!miniTicker@arr', (d) => cb(d as MiniTicker[]));
  // Per-symbol requests weigh 2 each, the all-symbols one 80.
  const poll = async () => {
    const all = await Promise.all(symbols.map((s) => api<Ticker24>('/api/v3/ticker/24hr', { query: { symbol: s }, auth: false })));
    cb(all.map(toMini));
  };
  const stop = pollWhileDown(poll, 3_000);
  return () => {
    off();
    stop();
  };
}

/** A trade as the UI shows it (from `@trade` or REST). */
export interface Trade {
  id: number;
  price: string;
  qty: string;
  time: number;
  isBuyerMaker: boolean;
}

/** The market's recent trades, newest first (`<s>@trade`; aggregate trades when polling). */
export function watchTrades(symbol: string, cb: (t: Trade[]) => void): () => void {
  let trades: Trade[] = [];
  const emit = () => cb(trades);
  const off = hub.subscribe(`${symbol.toLowerCase()}@trade`, (d) => {
    const t = d as { t: number; p: string; q: string; T: number; m: boolean };
    trades = [{ id: t.t, price: t.p, qty: t.q, time: t.T, isBuyerMaker: t.m }, ...trades].slice(0, 60);
    emit();
  });
  // aggTrades weighs 4, trades 25: the cheaper one while polling.
  const poll = async () => {
    const list = await api<{ a: number; p: string; q: string; T: number; m: boolean }[]>('/api/v3/aggTrades', {
      query: { symbol, limit: 60 },
      auth: false,
    });
    trades = list.reverse().map((t) => ({ id: t.a, price: t.p, qty: t.q, time: t.T, isBuyerMaker: t.m }));
    emit();
  };
  const stop = pollWhileDown(poll, 3_000);
  return () => {
    off();
    stop();
  };
}

/** One candle, decimals as strings. */
export interface Candle {
  openTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

type KlineRow = [number, string, string, string, string, string, ...unknown[]];
const rowToCandle = (k: KlineRow): Candle => ({ openTime: k[0], open: k[1], high: k[2], low: k[3], close: k[4], volume: k[5] });

/** History from `klines`, then updates of the last candle (`<s>@kline_<i>`). */
export function watchCandles(
  symbol: string,
  interval: string,
  onHistory: (c: Candle[]) => void,
  onUpdate: (c: Candle) => void,
): () => void {
  let loaded = false;
  const off = hub.subscribe(`${symbol.toLowerCase()}@kline_${interval}`, (d) => {
    const k = (d as { k: { t: number; o: string; h: string; l: string; c: string; v: string } }).k;
    if (loaded) onUpdate({ openTime: k.t, open: k.o, high: k.h, low: k.l, close: k.c, volume: k.v });
  });
  const load = async (limit: number) => {
    const rows = await api<KlineRow[]>('/api/v3/klines', { query: { symbol, interval, limit }, auth: false });
    if (!loaded || limit > 2) onHistory(rows.map(rowToCandle));
    else rows.map(rowToCandle).forEach(onUpdate);
    loaded = true;
  };
  void load(500).catch(() => undefined);
  const stop = pollWhileDown(() => (loaded ? load(2) : load(500)), 3_000);
  return () => {
    off();
    stop();
  };
}

/** The order book, exact by the snapshot + diff procedure (snapshots when polling). */
export function watchBook(symbol: string, cb: (b: LocalBook) => void): () => void {
  const book = new LocalBook();
  let resyncing = false;
  const snapshot = () => api<DepthSnapshot>('/api/v3/depth', { query: { symbol, limit: 100 }, auth: false });
  const resync = async () => {
    if (resyncing) return;
    resyncing = true;
    try {
      if (book.applySnapshot(await snapshot()) === 'gap') void resync();
      cb(book);
    } finally {
      resyncing = false;
    }
  };
  const off = hub.subscribe(`${symbol.toLowerCase()}@depth@100ms`, (d) => {
    const r = book.applyDiff(d as DepthDiff);
    if (r === 'applied') cb(book);
    if (r === 'gap') void resync();
  });
  const poll = async () => {
    if (hub.status === 'live') {
      book.reset();
      await resync();
      return;
    }
    book.reset();
    book.applySnapshot(await snapshot());
    cb(book);
  };
  const stop = pollWhileDown(poll, 1_000);
  return () => {
    off();
    stop();
  };
}

/**
 * The signed-in user's events (executionReport, outboundAccountPosition,
 * balanceUpdate) over `/ws-api/v3`. `status` says whether they arrive; the
 * screens refetch over REST while it is not `live`.
 */
class UserStream extends StatusSource {
  private ws: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private retryMs = RETRY_FIRST_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    super();
    this.status = 'polling';
  }

  watch(cb: Listener): () => void {
    this.listeners.add(cb);
    void this.open();
    return () => {
      this.listeners.delete(cb);
      if (this.listeners.size === 0) this.close();
    };
  }

  private close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
    this.setStatus('polling');
  }

  private async open(): Promise<void> {
    if (this.ws || this.retryTimer) return;
    const token = await session.token();
    if (!token || this.listeners.size === 0 || this.ws) return;
    const ws = new WebSocket(`${wsBase()}/ws-api/v3`);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ id: 'logon', method: 'session.logon', params: { accessToken: token } }));
      ws.send(JSON.stringify({ id: 'subscribe', method: 'userDataStream.subscribe' }));
    };
    ws.onmessage = (m) => this.dispatch(m.data);
    ws.onclose = () => {
      this.ws = null;
      this.setStatus('polling');
      if (this.listeners.size === 0) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.open();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
  }

  private dispatch(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: { id?: string; status?: number; event?: unknown };
    try {
      msg = JSON.parse(raw) as typeof msg;
    } catch {
      return;
    }
    if (msg.id === 'subscribe' && msg.status === 200) {
      this.retryMs = RETRY_FIRST_MS;
      this.setStatus('live');
    } else if (msg.id && msg.status && msg.status >= 400) {
      this.ws?.close();
    } else if (msg.event) {
      for (const cb of this.listeners) cb(msg.event);
    }
  }
}

export const userStream = new UserStream();
