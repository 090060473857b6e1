import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  addDays,
  cachedFormatterCount,
  diffDays,
  eachDay,
  isInstant,
  isIsoDate,
  localDate,
  localMinuteOfDay,
  splitRange,
} from '../../src/shared/time.ts';

describe('date helpers', () => {
  it('does calendar arithmetic on YYYY-MM-DD', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(diffDays('2024-12-30', '2025-01-02')).toBe(3);
    expect(eachDay('2024-03-09', '2024-03-11')).toEqual(['2024-03-09', '2024-03-10', '2024-03-11']);
    expect(isIsoDate('2023-02-29')).toBe(false);
    expect(isIsoDate('2024-02-29')).toBe(true);
  });

  it('takes an instant only when it names one (what a timestamptz column takes)', () => {
    for (const ok of [
      '2022-09-30T15:00:12Z',
      '2022-09-30T15:00:12.722739+01:00',
      '2024-02-29T23:59:60-0500',
      '2022-09-30T00:00:00+15:59',
    ]) {
      expect(isInstant(ok), ok).toBe(true);
    }
    for (const bad of [
      '2026-02-30T14:01:30Z',
      '2026-03-02T24:00:00Z',
      '2026-03-02T14:60:00Z',
      '2026-03-02T14:01:61Z',
      '2026-03-02T14:01:30+16:00',
      '2026-03-02T14:01:30+01:60',
      '0000-03-02T14:01:30Z',
      '2022-09-30T15:00:12',
      '1T16:59:22Z',
    ]) {
      expect(isInstant(bad), bad).toBe(false);
    }
  });

  it('splits a 60-day range into twelve 5-day and two 31-day windows', () => {
    const tx = splitRange('2026-01-01', '2026-03-01', 5);
    expect(tx).toHaveLength(12);
    expect(tx[0]).toEqual({ from: '2026-01-01', to: '2026-01-05' });
    expect(tx.at(-1)).toEqual({ from: '2026-02-25', to: '2026-03-01' });
    expect(splitRange('2026-01-01', '2026-03-01', 31)).toEqual([
      { from: '2026-01-01', to: '2026-01-31' },
      { from: '2026-02-01', to: '2026-03-01' },
    ]);
  });

  it("gives an account's business day in its own zone", () => {
    const instant = new Date('2026-03-10T03:30:00Z');
    expect(localDate(instant, 'America/New_York')).toBe('2026-03-09');
    expect(localDate(instant, 'Asia/Tokyo')).toBe('2026-03-10');
  });

  it('keeps each zone and each kind apart when called again (formatters are reused)', () => {
    const instant = new Date('2026-03-10T03:30:00Z');
    for (let i = 0; i < 2; i++) {
      expect(localDate(instant, 'America/New_York')).toBe('2026-03-09');
      expect(localMinuteOfDay(instant, 'America/New_York')).toBe(23 * 60 + 30);
      expect(localDate(instant, 'Asia/Tokyo')).toBe('2026-03-10');
      expect(localMinuteOfDay(instant, 'Asia/Tokyo')).toBe(12 * 60 + 30);
      expect(localDate(new Date('2026-03-10T05:00:00Z'), 'America/New_York')).toBe('2026-03-10');
    }
  });

  it('keeps the formatter cache bounded under many spellings of zones, answering right for each', () => {
    const instant = new Date('2026-03-10T03:30:00Z');
    // 2^10 case spellings of one zone, each a valid zone to Intl and a key of its own.
    const name = 'America/New_York';
    const letters = [...name].flatMap((c, i) => (c.toLowerCase() === c.toUpperCase() ? [] : [i]));
    for (let mask = 0; mask < 1024; mask++) {
      const spelling = [...name]
        .map((c, i) => {
          const bit = letters.indexOf(i);
          return bit >= 0 && bit < 10 && (mask >> bit) & 1
            ? c.toLowerCase() === c
              ? c.toUpperCase()
              : c.toLowerCase()
            : c;
        })
        .join('');
      expect(localDate(instant, spelling)).toBe('2026-03-09');
      expect(localMinuteOfDay(instant, spelling)).toBe(23 * 60 + 30);
      expect(cachedFormatterCount()).toBeLessThanOrEqual(256);
    }
    // Offsets, every minute from -12:00 to +14:00 at a step of 7 minutes.
    for (let offset = -12 * 60; offset <= 14 * 60; offset += 7) {
      const abs = Math.abs(offset);
      const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
      const local = 3 * 60 + 30 + offset;
      expect(localMinuteOfDay(instant, zone)).toBe(((local % 1440) + 1440) % 1440);
      expect(localDate(instant, zone)).toBe(local < 0 ? '2026-03-09' : local >= 1440 ? '2026-03-11' : '2026-03-10');
      expect(cachedFormatterCount()).toBeLessThanOrEqual(256);
    }
    // No zone (an untyped caller's undefined) is the process's zone: answered, never cached.
    const before = cachedFormatterCount();
    expect(localDate(instant, undefined as unknown as string)).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(cachedFormatterCount()).toBe(before);
    // The accounts' zones still answer right after the cache started again.
    expect(localDate(instant, 'America/New_York')).toBe('2026-03-09');
    expect(localDate(instant, 'Asia/Tokyo')).toBe('2026-03-10');
  });

  it('answers the same under any machine time zone', () => {
    const script = `
      import { addDays, localDate, splitRange } from './src/shared/time.ts';
      console.log(JSON.stringify([addDays('2026-03-08', 1), localDate(new Date('2026-03-10T03:30:00Z'), 'America/New_York'), splitRange('2026-03-01', '2026-03-12', 5)]));
    `;
    const run = (tz: string) =>
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, TZ: tz },
        encoding: 'utf8',
      });
    const utc = run('UTC');
    expect(run('Pacific/Kiritimati')).toBe(utc);
    expect(run('America/Los_Angeles')).toBe(utc);
    expect(JSON.parse(utc)).toEqual([
      '2026-03-09',
      '2026-03-09',
      [
        { from: '2026-03-01', to: '2026-03-05' },
        { from: '2026-03-06', to: '2026-03-10' },
        { from: '2026-03-11', to: '2026-03-12' },
      ],
    ]);
  });
});
