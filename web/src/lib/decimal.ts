// Exact decimal arithmetic for every price, amount, balance and fee.
// Values travel as strings (the API's decimals) and are computed with
// big.js; JavaScript numbers never hold money.
import Big from 'big.js';

// A private constructor: the global one's settings stay untouched for
// other code, and ours never rounds silently in a division.
const D = Big();
D.DP = 40;
D.RM = Big.roundDown;
D.NE = -50;
D.PE = 50;

export type Dec = Big;

/** A plain non-negative decimal as the API writes them: `12`, `0.001`. */
const PLAIN = /^\d+(\.\d+)?$/;
/** What a person may type: digits with at most one point, `.5` and `5.` included. */
const TYPED = /^(\d+\.?\d*|\.\d+)$/;

/** A decimal from the API (throws on anything else: a bug, not input). */
export function dec(value: string | Big): Big {
  if (typeof value !== 'string') return new D(value);
  if (!PLAIN.test(value) && !/^-\d+(\.\d+)?$/.test(value)) {
    throw new Error(`not a decimal: ${JSON.stringify(value)}`);
  }
  return new D(value);
}

/** What a person typed, or `null` if it is not a non-negative decimal. */
export function parseInput(text: string): Big | null {
  const t = text.trim();
  if (!TYPED.test(t)) return null;
  return new D(t.startsWith('.') ? `0${t}` : t.endsWith('.') ? t.slice(0, -1) : t);
}

export const ZERO: Big = new D(0);

/** Digits after the point of a step such as `0.01000000` (→ 2) or `1.00` (→ 0). */
export function decimalsOf(step: string | Big): number {
  const s = typeof step === 'string' ? step : step.toFixed();
  const frac = s.split('.')[1] ?? '';
  return frac.replace(/0+$/, '').length;
}

/** The largest multiple of `step` not above `x` (`step` > 0). */
export function floorToStep(x: Big, step: Big): Big {
  if (step.lte(0)) return x;
  return x.div(step).round(0, Big.roundDown).times(step);
}

/** The smallest multiple of `step` not below `x` (`step` > 0). */
export function ceilToStep(x: Big, step: Big): Big {
  if (step.lte(0)) return x;
  return x.div(step).round(0, Big.roundUp).times(step);
}

/** Whether `x` is an exact multiple of `step`. */
export function isMultiple(x: Big, step: Big): boolean {
  if (step.lte(0)) return true;
  return x.mod(step).eq(0);
}

/** Digit grouping and point of a locale, read once from Intl. */
function separators(locale: string): { group: string; point: string } {
  const parts = new Intl.NumberFormat(locale).formatToParts(12345.6);
  return {
    group: parts.find((p) => p.type === 'group')?.value ?? ',',
    point: parts.find((p) => p.type === 'decimal')?.value ?? '.',
  };
}
const separatorCache = new Map<string, { group: string; point: string }>();

/**
 * `x` with exactly `dp` decimals (rounded down, as balances and fills are
 * shown) and the locale's digit grouping: `fmt('1234.5', 2, 'en')` is
 * `1,234.50`. The digits come from big.js, never from a number.
 */
export function fmt(x: Big | string, dp: number, locale = 'en', group = true): string {
  const v = typeof x === 'string' ? dec(x) : x;
  const fixed = v.toFixed(dp, Big.roundDown);
  const negative = fixed.startsWith('-');
  const [int = '0', frac] = (negative ? fixed.slice(1) : fixed).split('.');
  let sep = separatorCache.get(locale);
  if (!sep) {
    sep = separators(locale);
    separatorCache.set(locale, sep);
  }
  const grouped = group ? int.replace(/\B(?=(\d{3})+(?!\d))/g, sep.group) : int;
  const sign = negative && /[1-9]/.test(fixed) ? '-' : '';
  return sign + grouped + (frac !== undefined ? sep.point + frac : '');
}

/** A decimal string without trailing zeros: `0.50000000` → `0.5`, `2.000` → `2`. */
export function trim(x: Big | string): string {
  const v = typeof x === 'string' ? dec(x) : x;
  return v.toFixed();
}

/** `(last - open) / open` in percent with two decimals, signed: `+1.25`, `-0.40`. */
export function changePercent(open: string, last: string): string {
  const o = dec(open);
  if (o.eq(0)) return '0.00';
  const pct = dec(last).minus(o).div(o).times(100).round(2, Big.roundHalfUp);
  return (pct.gt(0) ? '+' : '') + pct.toFixed(2);
}

/** Sum of decimal strings. */
export function sum(values: Iterable<string | Big>): Big {
  let total = ZERO;
  for (const v of values) total = total.plus(typeof v === 'string' ? dec(v) : v);
  return total;
}

export { Big };
