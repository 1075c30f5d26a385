import { describe, expect, it } from 'vitest';
import { combinedStatus } from './live';

describe('combinedStatus', () => {
  it('signed out: the market stream alone', () => {
    expect(combinedStatus('live', null)).toBe('live');
    expect(combinedStatus('polling', null)).toBe('polling');
  });
  it('signed in: live only when both streams are', () => {
    expect(combinedStatus('live', 'live')).toBe('live');
    expect(combinedStatus('live', 'polling')).toBe('polling');
    expect(combinedStatus('polling', 'live')).toBe('polling');
    expect(combinedStatus('live', 'connecting')).toBe('connecting');
    expect(combinedStatus('connecting', 'polling')).toBe('polling');
  });
});
