import { describe, expect, it } from 'vitest';
import { changePercent, dec, decimalsOf, fmt, floorToStep, ceilToStep, isMultiple, parseInput, sum, trim } from './decimal';

describe('decimal', () => {
  it('adds and multiplies exactly where numbers would not', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(dec('0.1').plus(dec('0.2')).toFixed()).toBe('0.3');
    expect(dec('64000.01').times(dec('0.00001')).toFixed()).toBe('0.6400001');
    expect(sum(['0.00000001', '99999999.99999999']).toFixed()).toBe('100000000');
    expect(dec('1').div(dec('3')).times(3).lt(1)).toBe(true); // rounded down, never up
  });

  it('formats with fixed decimals, rounding down, per locale', () => {
    expect(fmt('1234567.891', 2, 'en')).toBe('1,234,567.89');
    expect(fmt('0.5', 8, 'en')).toBe('0.50000000');
    expect(fmt('1234.5', 2, 'zh-CN')).toBe('1,234.50');
    expect(fmt('1234.5', 2, 'de')).toBe('1.234,50');
    expect(fmt('12345678901234567890.12345678', 8, 'en')).toBe('12,345,678,901,234,567,890.12345678');
    expect(fmt('-0.001', 2, 'en')).toBe('0.00');
    expect(fmt('-5.5', 1, 'en', false)).toBe('-5.5');
  });

  it('reads steps, trims and snaps to them', () => {
    expect(decimalsOf('0.01000000')).toBe(2);
    expect(decimalsOf('1.00000000')).toBe(0);
    expect(decimalsOf('0.00001')).toBe(5);
    expect(trim('0.50000000')).toBe('0.5');
    expect(floorToStep(dec('1.23456'), dec('0.001')).toFixed()).toBe('1.234');
    expect(ceilToStep(dec('1.2341'), dec('0.001')).toFixed()).toBe('1.235');
    expect(isMultiple(dec('64000.01'), dec('0.01'))).toBe(true);
    expect(isMultiple(dec('64000.015'), dec('0.01'))).toBe(false);
  });

  it('parses only plain non-negative input', () => {
    expect(parseInput(' 1.5 ')?.toFixed()).toBe('1.5');
    expect(parseInput('.5')?.toFixed()).toBe('0.5');
    expect(parseInput('5.')?.toFixed()).toBe('5');
    for (const bad of ['', '-1', '1e3', '1,5', 'abc', '1.2.3', 'Infinity', '0x10']) expect(parseInput(bad)).toBeNull();
    expect(() => dec('1e3')).toThrow();
  });

  it('computes the 24 h change in percent', () => {
    expect(changePercent('100', '101.255')).toBe('+1.26');
    expect(changePercent('64000', '63744')).toBe('-0.40');
    expect(changePercent('0', '5')).toBe('0.00');
  });
});
