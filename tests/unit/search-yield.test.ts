import { describe, expect, it } from 'vitest';
import { searchYieldDelayMs, type SearchYieldSettings } from '../../src/events/search-index.ts';

/** The search step's yield to busy ingestion (events/search-index.ts): the pause after a full batch, from injected feed ages. */
describe('search step yield policy', () => {
  const settings: SearchYieldSettings = { busyShare: 0.25, maxLagSeconds: 600, busyWindowMs: 5_000 };
  const busy = { newestEventAgeMs: 100, oldestPendingAgeMs: 30_000, elapsedMs: 200 };

  it('waits elapsed × (1/share − 1) while ingestion is busy and the lag is under the bound', () => {
    expect(searchYieldDelayMs(settings, busy)).toBe(600);
    expect(searchYieldDelayMs({ ...settings, busyShare: 0.5 }, busy)).toBe(200);
    expect(searchYieldDelayMs({ ...settings, busyShare: 0.1 }, busy)).toBeCloseTo(1_800, 6);
  });

  it('runs at once when the newest change is older than the busy window (ingestion idle) or the feed is empty', () => {
    expect(searchYieldDelayMs(settings, { ...busy, newestEventAgeMs: 5_000 })).toBe(0);
    expect(searchYieldDelayMs(settings, { ...busy, newestEventAgeMs: 60_000 })).toBe(0);
    expect(searchYieldDelayMs(settings, { ...busy, newestEventAgeMs: undefined })).toBe(0);
    expect(searchYieldDelayMs(settings, { ...busy, newestEventAgeMs: 4_999 })).toBe(600);
  });

  it('runs at once when the oldest change not applied is at or past the lag bound, or none is waiting', () => {
    expect(searchYieldDelayMs(settings, { ...busy, oldestPendingAgeMs: 600_000 })).toBe(0);
    expect(searchYieldDelayMs(settings, { ...busy, oldestPendingAgeMs: 3_600_000 })).toBe(0);
    expect(searchYieldDelayMs(settings, { ...busy, oldestPendingAgeMs: undefined })).toBe(0);
  });

  it('never pauses past the bound', () => {
    expect(searchYieldDelayMs(settings, { ...busy, oldestPendingAgeMs: 599_900 })).toBe(100);
  });

  it('share 1 never yields', () => {
    expect(searchYieldDelayMs({ ...settings, busyShare: 1 }, busy)).toBe(0);
  });
});
