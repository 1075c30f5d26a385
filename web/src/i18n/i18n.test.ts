import { describe, expect, it } from 'vitest';
import { en } from './en';
import { zh } from './zh';

type Tree = { [k: string]: string | Tree };

function flatten(t: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(t)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') out.set(key, v);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

const vars = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

describe('translations', () => {
  const e = flatten(en as unknown as Tree);
  const z = flatten(zh as unknown as Tree);

  it('both languages have exactly the same keys', () => {
    expect([...z.keys()].sort()).toEqual([...e.keys()].sort());
  });

  it('no string is empty and each keeps its placeholders', () => {
    for (const [k, v] of e) {
      expect(v.trim(), k).not.toBe('');
      expect(z.get(k)?.trim(), k).not.toBe('');
      expect(vars(z.get(k) ?? ''), k).toEqual(vars(v));
    }
  });

  it('the Chinese strings are translated, not copied', () => {
    // Brand names and pure placeholders may stay the same.
    const same = [...e].filter(([k, v]) => z.get(k) === v && !/^(FlowEx|IP|API key|\{\{\w+\}\} \{\{\w+\}\})$/.test(v));
    expect(same).toEqual([]);
  });
});
