import { describe, expect, it } from 'vitest';
import { mapLimited } from '../../src/shared/concurrency.ts';

describe('mapLimited', () => {
  it('keeps input order and never has more than `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimited([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(most).toBe(3);
  });

  it('answers an empty list with an empty list, and passes a failure on', async () => {
    expect(await mapLimited([], 4, () => Promise.resolve(1))).toEqual([]);
    await expect(
      mapLimited([1, 2], 2, (n) => (n === 2 ? Promise.reject(new Error('boom')) : Promise.resolve(n))),
    ).rejects.toThrow('boom');
  });
});
