import { describe, expect, it } from 'vitest';
import { LocalBook, grouped } from './book';
import { dec } from './decimal';

const text = (rows: ReturnType<LocalBook['levels']>) => rows.map(([p, q]) => [p.toFixed(), q.toFixed()]);

describe('LocalBook', () => {
  it('applies buffered and live diffs on top of the snapshot', () => {
    const b = new LocalBook();
    // Arrives before the snapshot: buffered; the first is older than it.
    expect(b.applyDiff({ U: 5, u: 9, b: [['99', '9']], a: [] })).toBe('buffered');
    expect(b.applyDiff({ U: 10, u: 12, b: [['100.5', '2']], a: [['101', '0']] })).toBe('buffered');
    b.applySnapshot({ lastUpdateId: 10, bids: [['100', '1'], ['99', '3']], asks: [['101', '4'], ['102', '5']] });
    expect(b.lastUpdateId).toBe(12);
    expect(text(b.levels('bids'))).toEqual([['100.5', '2'], ['100', '1'], ['99', '3']]);
    expect(text(b.levels('asks'))).toEqual([['102', '5']]);
    expect(b.applyDiff({ U: 11, u: 12, b: [['1', '1']], a: [] })).toBe('stale');
    expect(b.applyDiff({ U: 13, u: 13, b: [['100', '0.10000000']], a: [['101.50', '1']] })).toBe('applied');
    expect(text(b.levels('bids', 2))).toEqual([['100.5', '2'], ['100', '0.1']]);
    expect(text(b.levels('asks'))).toEqual([['101.5', '1'], ['102', '5']]);
  });

  it('a gap forces a resync from a new snapshot', () => {
    const b = new LocalBook();
    b.applySnapshot({ lastUpdateId: 20, bids: [['10', '1']], asks: [['11', '1']] });
    expect(b.applyDiff({ U: 21, u: 22, b: [['10', '2']], a: [] })).toBe('applied');
    // 23 never came: the book is dropped, diffs buffer until the next snapshot.
    expect(b.applyDiff({ U: 24, u: 25, b: [['9', '1']], a: [] })).toBe('gap');
    expect(b.synced).toBe(false);
    expect(b.levels('bids')).toEqual([]);
    expect(b.applyDiff({ U: 26, u: 27, b: [['9.5', '1']], a: [] })).toBe('buffered');
    expect(b.applySnapshot({ lastUpdateId: 26, bids: [['10', '3']], asks: [['11', '1']] })).toBe('applied');
    expect(text(b.levels('bids'))).toEqual([['10', '3'], ['9.5', '1']]);
    expect(b.lastUpdateId).toBe(27);
  });

  it('the first diff after the snapshot must straddle it', () => {
    const b = new LocalBook();
    b.applySnapshot({ lastUpdateId: 50, bids: [], asks: [] });
    expect(b.applyDiff({ U: 53, u: 55, b: [], a: [] })).toBe('gap');
  });
});

describe('grouped', () => {
  it('buckets bids down and asks up, summing exactly', () => {
    const bids: [ReturnType<typeof dec>, ReturnType<typeof dec>][] = [
      [dec('100.07'), dec('0.1')],
      [dec('100.01'), dec('0.2')],
      [dec('99.99'), dec('0.3')],
    ];
    const rows = grouped(bids, dec('0.1'), 'bids', 10);
    expect(rows.map((r) => [r.price.toFixed(1), r.qty.toFixed(), r.total.toFixed()])).toEqual([
      ['100.0', '0.3', '0.3'],
      ['99.9', '0.3', '0.6'],
    ]);
    const asks: typeof bids = [
      [dec('100.01'), dec('1')],
      [dec('100.10'), dec('2')],
      [dec('100.11'), dec('4')],
    ];
    expect(grouped(asks, dec('0.1'), 'asks', 10).map((r) => [r.price.toFixed(1), r.qty.toFixed()])).toEqual([
      ['100.1', '3'],
      ['100.2', '4'],
    ]);
    expect(grouped(asks, dec('0.1'), 'asks', 1)).toHaveLength(1);
  });
});
