// A local order book kept exact from a REST snapshot and the depth-diff
// stream, by Binance's procedure: buffer diffs, take the snapshot, drop
// diffs with u <= lastUpdateId, the first applied one must straddle
// lastUpdateId + 1, every later one must start at the previous u + 1.
// Anything else is a gap: the book is no longer known and must resync.
import { type Dec, dec, floorToStep, ceilToStep, ZERO } from './decimal';

export type Level = [string, string];

export interface DepthSnapshot {
  lastUpdateId: number;
  bids: Level[];
  asks: Level[];
}

/** A `depthUpdate` event (`U` first and `u` last update id of the batch). */
export interface DepthDiff {
  e?: string;
  U: number;
  u: number;
  b: Level[];
  a: Level[];
}

export type ApplyResult = 'applied' | 'stale' | 'buffered' | 'gap';

/** One side: price text (normalised) → [price, quantity]. */
type Side = Map<string, [Dec, Dec]>;

function applyLevels(side: Side, levels: Level[]): void {
  for (const [p, q] of levels) {
    const price = dec(p);
    const key = price.toFixed();
    const qty = dec(q);
    if (qty.eq(0)) side.delete(key);
    else side.set(key, [price, qty]);
  }
}

export class LocalBook {
  private bids: Side = new Map();
  private asks: Side = new Map();
  private buffer: DepthDiff[] = [];
  /** The last applied update id; null until a snapshot arrives. */
  lastUpdateId: number | null = null;
  /** Whether the first diff after the snapshot has been applied. */
  private bridged = false;

  /** Drops everything: the caller takes a new snapshot. */
  reset(): void {
    this.bids.clear();
    this.asks.clear();
    this.buffer = [];
    this.lastUpdateId = null;
    this.bridged = false;
  }

  get synced(): boolean {
    return this.lastUpdateId !== null;
  }

  /** Loads a snapshot, then the buffered diffs that follow it. */
  applySnapshot(s: DepthSnapshot): ApplyResult {
    this.bids.clear();
    this.asks.clear();
    applyLevels(this.bids, s.bids);
    applyLevels(this.asks, s.asks);
    this.lastUpdateId = s.lastUpdateId;
    this.bridged = false;
    const pending = this.buffer;
    this.buffer = [];
    for (const d of pending) {
      if (this.applyDiff(d) === 'gap') return 'gap';
    }
    return 'applied';
  }

  /** Applies one diff (buffers it while there is no snapshot). */
  applyDiff(d: DepthDiff): ApplyResult {
    if (this.lastUpdateId === null) {
      this.buffer.push(d);
      return 'buffered';
    }
    const last = this.lastUpdateId;
    if (d.u <= last) return 'stale';
    const fits = this.bridged ? d.U === last + 1 : d.U <= last + 1 && d.u >= last + 1;
    if (!fits) {
      this.reset();
      return 'gap';
    }
    applyLevels(this.bids, d.b);
    applyLevels(this.asks, d.a);
    this.lastUpdateId = d.u;
    this.bridged = true;
    return 'applied';
  }

  /** Best first: bids high to low, asks low to high. */
  levels(side: 'bids' | 'asks', limit = Infinity): [Dec, Dec][] {
    const all = [...(side === 'bids' ? this.bids : this.asks).values()];
    all.sort((x, y) => (side === 'bids' ? y[0].cmp(x[0]) : x[0].cmp(y[0])));
    return all.slice(0, limit);
  }

  snapshot(): DepthSnapshot {
    const text = (l: [Dec, Dec][]): Level[] => l.map(([p, q]) => [p.toFixed(), q.toFixed()]);
    return {
      lastUpdateId: this.lastUpdateId ?? 0,
      bids: text(this.levels('bids')),
      asks: text(this.levels('asks')),
    };
  }
}

/** A displayed level: price, quantity, and the running total from the touch. */
export interface Row {
  price: Dec;
  qty: Dec;
  total: Dec;
}

/**
 * Levels merged into buckets of `group` (a multiple of the tick): bids down
 * to a multiple, asks up to one, so a bucket never shows a better price
 * than its orders. Exact: quantities are summed as decimals.
 */
export function grouped(levels: [Dec, Dec][], group: Dec, side: 'bids' | 'asks', limit: number): Row[] {
  const out: Row[] = [];
  let total = ZERO;
  for (const [price, qty] of levels) {
    const bucket = side === 'bids' ? floorToStep(price, group) : ceilToStep(price, group);
    const last = out[out.length - 1];
    total = total.plus(qty);
    if (last && last.price.eq(bucket)) {
      last.qty = last.qty.plus(qty);
      last.total = total;
    } else {
      if (out.length === limit) break;
      out.push({ price: bucket, qty, total });
    }
  }
  return out;
}
