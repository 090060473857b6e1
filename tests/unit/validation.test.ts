import { describe, expect, it } from 'vitest';
import { progressBar } from '../../src/main/cli-validate.ts';
import { diffSnapshots, escapeHtml, windowsOf } from '../../src/validation/index.ts';
import type { RowSnapshot } from '../../src/validation/heal-diff.ts';
import { formatAmount } from '../../src/validation/html-escape.ts';
import { calendarSvg } from '../../src/validation/calendar-svg.ts';
import type { AccountReport } from '../../src/validation/report-types.ts';

describe('heal windows', () => {
  it('groups nearby days, splits on gaps and on the window length', () => {
    expect(windowsOf(['2025-03-03', '2025-03-04', '2025-03-07', '2025-03-20'], 5, 31)).toEqual([
      { from: '2025-03-03', to: '2025-03-07', days: ['2025-03-03', '2025-03-04', '2025-03-07'] },
      { from: '2025-03-20', to: '2025-03-20', days: ['2025-03-20'] },
    ]);
    expect(windowsOf(['2025-03-01', '2025-03-02', '2025-03-03'], 5, 2).map((w) => [w.from, w.to])).toEqual([
      ['2025-03-01', '2025-03-02'],
      ['2025-03-03', '2025-03-03'],
    ]);
    expect(windowsOf([], 5, 31)).toEqual([]);
  });
});

describe('heal diff', () => {
  const row = (id: string, over: Partial<RowSnapshot> = {}): RowSnapshot => ({
    id,
    jpmTransactionId: `J-${id}`,
    bookingDate: '2025-03-05',
    status: 'posted',
    direction: 'credit',
    amountMinor: '100',
    contentHash: `h-${id}`,
    ...over,
  });
  it('names missing, extra and changed rows', () => {
    const before = new Map([
      ['a', row('a')],
      ['b', row('b')],
      ['p', row('p', { status: 'pending' })],
    ]);
    const after = new Map([
      ['a', row('a', { jpmTransactionId: 'J-a2', contentHash: 'h-a2' })],
      ['b', row('b')],
      ['p', row('p', { status: 'superseded' })],
      ['c', row('c', { amountMinor: '9007199254740993' })],
    ]);
    const d = diffSnapshots(before, after);
    expect(d.missing).toEqual([
      {
        id: 'c',
        jpmTransactionId: 'J-c',
        bookingDate: '2025-03-05',
        status: 'posted',
        direction: 'credit',
        amountMinor: '9007199254740993',
      },
    ]);
    expect(d.extra.map((x) => x.id)).toEqual(['p']);
    expect(d.changed).toEqual([
      {
        id: 'a',
        jpmTransactionId: 'J-a2',
        bookingDate: '2025-03-05',
        fields: ['jpmTransactionId', 'contentHash'],
        before: { jpmTransactionId: 'J-a', contentHash: 'h-a' },
        after: { jpmTransactionId: 'J-a2', contentHash: 'h-a2' },
      },
    ]);
  });
});

describe('report page helpers', () => {
  it('escapes every HTML-significant character', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\`</a>`)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;',
    );
    expect(escapeHtml(null)).toBe('');
  });

  it('formats exact amounts with grouping, any scale, beyond JS number precision', () => {
    expect(formatAmount('123456789012345678', 2)).toBe('1,234,567,890,123,456.78');
    expect(formatAmount('-2500', 2)).toBe('-25.00');
    expect(formatAmount('1', 3)).toBe('0.001');
    expect(formatAmount('1234567', 0)).toBe('1,234,567');
  });

  it('draws one square per day of the period, weekday rows, with state marks and tooltips', () => {
    const a: AccountReport = {
      accountId: 'x',
      accountMasked: '****0001',
      accountName: '',
      currency: 'USD',
      decimalLocation: 2,
      timeZone: 'UTC',
      from: '2025-03-05',
      to: '2025-03-11',
      days: { proved: 3, broken: 1, unproved: 1 },
      totals: { creditsMinor: '0', debitsMinor: '0', creditCount: 0, debitCount: 0 },
      calendar: [
        { day: '2025-03-05', state: 'proved', differenceMinor: null, reason: null },
        { day: '2025-03-06', state: 'broken', differenceMinor: '-12345', reason: null },
        { day: '2025-03-07', state: 'unproved', differenceMinor: null, reason: 'no_final_balance' },
        { day: '2025-03-10', state: 'proved', differenceMinor: null, reason: null },
        { day: '2025-03-11', state: 'proved', differenceMinor: null, reason: null },
      ],
      openSuspicions: 0,
    };
    const svg = calendarSvg(a);
    expect(svg.match(/<g class="day /g)).toHaveLength(7);
    expect(svg.match(/data-state="none"/g)).toHaveLength(2);
    expect(svg).toContain('<title>2025-03-06: Broken, off by -123.45 USD</title>');
    expect(svg).toContain('<title>2025-03-07: Unproved (no final balance)</title>');
    expect(svg).toContain('>!</text>');
    expect(svg).toContain('>?</text>');
  });

  it('draws the CLI progress bar', () => {
    expect(progressBar(0, 4, 8)).toBe('[░░░░░░░░] 0/4 accounts');
    expect(progressBar(2, 4, 8)).toBe('[████░░░░] 2/4 accounts');
    expect(progressBar(0, 0, 4)).toBe('[████] 0/0 accounts');
  });
});
