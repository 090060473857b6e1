import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, eachDay, isWeekend } from '../../src/shared/time.ts';
import {
  renderValidationReportHtml,
  type AccountReport,
  type ValidationReportDocument,
} from '../../src/validation/index.ts';
import { resolveChromium } from '../helpers/chromium.ts';

/**
 * The validation report page in a real browser: headless Chromium driven by playwright-core (the
 * binary the @sparticuz/chromium dev dependency ships, or a system one: tests/helpers/chromium.ts). It must render (title, one calendar per account, legend), keep its layout
 * (nothing overlaps or overflows, at desktop and phone widths), paint each day in its state's colour
 * (checked on a real screenshot, decoded pixel by pixel), and never run injected markup.
 * Without a Chromium this test fails, it is never skipped.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const HOSTILE = 'Acme <img src=x onerror="window.__xss=1"> "Treasury" & Co';
const FROM = '2026-08-03';
const TO = '2026-10-16';

function account(
  i: number,
  broken: Set<string>,
  unproved: Set<string>,
  from = FROM,
  to = TO,
  closed = new Set<string>(),
): AccountReport {
  const calendar = eachDay(from, to)
    .filter((d) => !isWeekend(d) && !closed.has(d))
    .map((day) => ({
      day,
      state: broken.has(day) ? ('broken' as const) : unproved.has(day) ? ('unproved' as const) : ('proved' as const),
      differenceMinor: broken.has(day) ? '-2500' : null,
      reason: unproved.has(day) ? 'no_final_balance' : null,
    }));
  const count = (s: string) => calendar.filter((d) => d.state === s).length;
  return {
    accountId: `01900000-0000-7000-8000-00000000000${i}`,
    accountMasked: `****900${i}`,
    accountName: i === 1 ? HOSTILE : `ACCOUNT ${i}`,
    currency: 'USD',
    decimalLocation: 2,
    timeZone: 'America/New_York',
    from,
    to,
    days: { proved: count('proved'), broken: count('broken'), unproved: count('unproved') },
    totals: { creditsMinor: '123456789012', debitsMinor: '98765432101', creditCount: 812, debitCount: 640 },
    calendar,
    noBusinessDays: [...closed],
    openSuspicions: i === 0 ? 1 : 0,
  };
}

const ACCOUNTS = [
  account(
    0,
    new Set(['2026-08-12', '2026-09-03', '2026-09-04']),
    new Set(['2026-10-15', '2026-10-16']),
    FROM,
    TO,
    new Set(['2026-09-07']),
  ),
  account(1, new Set(), new Set()),
  account(2, new Set(['2026-10-01']), new Set(['2026-08-03'])),
];

const DOC: ValidationReportDocument = {
  id: '01900000-0000-7000-8000-0000000000d0',
  integration: {
    id: '01900000-0000-7000-8000-0000000000e0',
    name: HOSTILE,
    organizationId: '01900000-0000-7000-8000-0000000000f0',
    stage: 'validating',
  },
  period: { from: FROM, to: TO, basis: 'since_approval' },
  generatedAt: '2026-10-17T08:00:00.000Z',
  passed: false,
  reasons: ['account ****9000: 3 broken day(s): 2026-08-12 off by -25.00 USD, …', `a reason with ${HOSTILE}`],
  summary: {
    accounts: 3,
    openSuspicions: 1,
    proved: ACCOUNTS.reduce((n, a) => n + a.days.proved, 0),
    broken: ACCOUNTS.reduce((n, a) => n + a.days.broken, 0),
    unproved: ACCOUNTS.reduce((n, a) => n + a.days.unproved, 0),
  },
  totalsByCurrency: [
    {
      currency: 'USD',
      decimalLocation: 2,
      creditsMinor: '370370367036',
      debitsMinor: '296296296303',
      creditCount: 2436,
      debitCount: 1920,
    },
  ],
  accounts: ACCOUNTS,
  suspicions: [
    {
      id: '01900000-0000-7000-8000-0000000000c0',
      accountId: ACCOUNTS[0]!.accountId,
      accountMasked: '****9000',
      bookingDate: '2026-09-03',
      direction: 'debit',
      amountMinor: '2500',
      currency: 'USD',
      decimalLocation: 2,
      liveCount: 4,
      bankCount: 3,
      status: 'open',
      transactionIds: [],
    },
  ],
  coverage: {
    staleHours: 26,
    daysNotFetched: [{ accountId: ACCOUNTS[2]!.accountId, day: '2026-08-03' }],
    failedWindows: [
      {
        runId: '01900000-0000-7000-8000-0000000000b0',
        accountId: ACCOUNTS[0]!.accountId,
        mode: 'range',
        status: 'failed',
        windowFrom: '2026-10-15',
        windowTo: '2026-10-16',
        errorCode: 'jpm_unavailable',
        errorMessage: 'timeout',
        at: '2026-10-17T06:00:00.000Z',
        recovered: false,
      },
    ],
    staleAccounts: [],
  },
};

type Box = { x: number; y: number; width: number; height: number };
const overlaps = (a: Box, b: Box) =>
  a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;
const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x - 0.5 &&
  inner.y >= outer.y - 0.5 &&
  inner.x + inner.width <= outer.x + outer.width + 0.5 &&
  inner.y + inner.height <= outer.y + outer.height + 0.5;

let browser: Browser;

async function open(width: number, doc: ValidationReportDocument = DOC): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  await page.setContent(renderValidationReportHtml(doc), { waitUntil: 'load' });
  return page;
}

/*
 * Browser-side scripts, kept as source text: they run in chromium, where the DOM exists, and the
 * project's Node type environment has no DOM types to check them against.
 */
const BOXES = `(selector) => Array.from(document.querySelectorAll(selector)).map((e) => e.getBoundingClientRect().toJSON())`;

/** Text elements cut off by an `overflow: hidden` ancestor, or off the page outside any scrollable container. */
const CLIPPED = `() => {
  const out = [];
  for (const el of document.querySelectorAll('main td, main th, main li, main p, main h1, main h2, main h3, main .card, main code')) {
    const r = el.getBoundingClientRect();
    let scrolls = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ov = getComputedStyle(a).overflowX;
      const box = a.getBoundingClientRect();
      if (ov === 'auto' || ov === 'scroll') { scrolls = true; break; }
      if ((ov === 'hidden' || ov === 'clip') && (r.left < box.left - 0.5 || r.right > box.right + 0.5)) {
        out.push(el.tagName + ' "' + el.textContent.slice(0, 30) + '" clipped by ' + a.tagName + '.' + a.className);
      }
    }
    if (!scrolls && (r.left < -0.5 || r.right > document.documentElement.clientWidth + 0.5)) {
      out.push(el.tagName + ' "' + el.textContent.slice(0, 30) + '" off the page');
    }
  }
  return out;
}`;

/** Decodes a PNG (base64) in the browser and counts pixels near each state colour. */
const COLOUR_COUNTS = `async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const targets = { proved: [0x2d, 0xa4, 0x4e], broken: [0xcf, 0x22, 0x2e], unproved: [0xbf, 0x87, 0x00], none: [0xe6, 0xe9, 0xed] };
  const counts = { proved: 0, broken: 0, unproved: 0, none: 0 };
  for (let i = 0; i < data.length; i += 4) {
    for (const [name, [r, g, b]] of Object.entries(targets)) {
      if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 24) counts[name]++;
    }
  }
  return counts;
}`;

function run<T>(page: Page, script: string, arg?: unknown): Promise<T> {
  return page.evaluate<T>(`(${script})(${arg === undefined ? '' : JSON.stringify(arg)})`);
}

const boxes = (page: Page, selector: string) => run<Box[]>(page, BOXES, selector);

async function colourCounts(png: Buffer): Promise<Record<string, number>> {
  const decoder = await browser.newPage();
  try {
    return await run<Record<string, number>>(decoder, COLOUR_COUNTS, png.toString('base64'));
  } finally {
    await decoder.close();
  }
}

beforeAll(async () => {
  const { executablePath } = await resolveChromium();
  browser = await chromium.launch({ executablePath, args: ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
});

describe('validation report page in headless chromium', () => {
  it('renders: title, one calendar per account, the legend, escaped values, no script ran', async () => {
    const page = await open(1280);
    expect(await page.title()).toBe(`Validation report · ${HOSTILE} · ${FROM} to ${TO}`);
    expect(await page.locator('section.account').count()).toBe(3);
    expect(await page.locator('section.account svg.calendar').count()).toBe(3);
    expect(await page.locator('svg.legend .legend-item').allTextContents()).toEqual([
      'Proved',
      '!Broken',
      '?Unproved',
      'No business day',
    ]);
    expect(await page.locator('.verdict').textContent()).toBe('FAILED');
    expect(await page.locator('h1').textContent()).toBe(`${HOSTILE}: data validation report`);
    expect(await page.evaluate<unknown>('window.__xss')).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
    // Every business day is one square with its state; the tooltip says the difference.
    const first = page.locator('section.account').first();
    expect(await first.locator('g.day.broken').count()).toBe(3);
    expect(await first.locator('g.day.unproved').count()).toBe(2);
    expect(await first.locator('g.day[data-day="2026-08-12"] title').textContent()).toBe(
      '2026-08-12: Broken, off by -25.00 USD',
    );
    // A weekday the bank reported as no business day (Labor Day) is grey and says why.
    expect(await first.locator('g.day[data-day="2026-09-07"]').getAttribute('data-state')).toBe('none');
    expect(await first.locator('g.day[data-day="2026-09-07"] title').textContent()).toBe(
      '2026-09-07: No business day (the bank reported it as no business day: nothing owed)',
    );
    await page.close();
  });

  for (const width of [1280, 420]) {
    it(`keeps its layout at ${width}px: nothing overlaps, nothing overflows, calendars are visible and sane`, async () => {
      const page = await open(width);
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width);
      const blocks = await boxes(page, 'main > header, main > .cards, main > section');
      expect(blocks.length).toBe(8); // header, cards, how, 3 accounts, suspicions, coverage
      for (let i = 1; i < blocks.length; i++) {
        expect(blocks[i]!.y, `block ${i} starts below block ${i - 1}`).toBeGreaterThanOrEqual(
          blocks[i - 1]!.y + blocks[i - 1]!.height - 0.5,
        );
      }
      // Nothing is cut off: a text element sticking out of its box must be inside a scrollable
      // container (wide tables on a phone scroll sideways), never clipped or off the page.
      const clipped = await run<string[]>(page, CLIPPED);
      expect(clipped).toEqual([]);
      const cards = await boxes(page, '.card');
      cards.forEach((a, i) => cards.slice(i + 1).forEach((b) => expect(overlaps(a, b)).toBe(false)));
      for (const a of ACCOUNTS) {
        const section = page.locator(`section.account[data-account-id="${a.accountId}"]`);
        const s = (await section.boundingBox())!;
        const svg = section.locator('svg.calendar');
        await expect.poll(() => svg.isVisible()).toBe(true);
        const c = (await svg.boundingBox())!;
        expect(inside(c, s)).toBe(true);
        // Drawn at its natural size when it fits (shrunk to the section otherwise), never distorted.
        const natural = { w: Number(await svg.getAttribute('width')), h: Number(await svg.getAttribute('height')) };
        expect(natural.w).toBeGreaterThan(200);
        expect(c.width).toBeGreaterThanOrEqual(Math.min(natural.w, s.width - 34) - 1);
        expect(c.height / c.width).toBeCloseTo(natural.h / natural.w, 2);
        const cells = await boxes(page, `section.account[data-account-id="${a.accountId}"] svg.calendar g.day rect`);
        expect(cells.length).toBe(eachDay(FROM, TO).length);
        for (const cell of cells) {
          expect(inside(cell, c)).toBe(true);
          expect(cell.width).toBeGreaterThan(3);
        }
        cells.forEach((a, i) => cells.slice(i + 1).forEach((b) => expect(overlaps(a, b)).toBe(false)));
      }
      await page.close();
    });
  }

  it('labels each month once, and month labels never overlap, whatever day the period starts on', async () => {
    // Periods starting at a month's end put two months' first columns side by side ("AugSep").
    const starts = ['2026-08-28', '2026-08-29', '2026-08-30', '2026-08-31', '2026-09-01', '2026-09-05', '2026-09-27'];
    const accounts = starts.map((from, i) => ({
      ...account(i, new Set(), new Set(), from, addDays(from, 120)),
      accountId: `01900000-0000-7000-8000-00000000010${i}`,
    }));
    const page = await open(1280, { ...DOC, accounts, suspicions: [] });
    for (const [i, from] of starts.entries()) {
      const svg = page.locator(`section.account[data-account-id="${accounts[i]!.accountId}"] svg.calendar`);
      const labels = svg.locator('text.m');
      const texts = await labels.allTextContents();
      // Every month of the period in order, once. The first may give way when it has a single week
      // column before the next month starts (a period beginning on a month's last days), the last
      // when no week column starts in it (a period ending on its first days).
      const months = [...new Set(eachDay(from, accounts[i]!.to).map((d) => d.slice(0, 7)))].map((m) =>
        new Date(`${m}-01T00:00:00Z`).toLocaleString('en-US', { month: 'short', timeZone: 'UTC' }),
      );
      const n = months.length;
      expect([months, months.slice(1), months.slice(0, n - 1), months.slice(1, n - 1)], from).toContainEqual(texts);
      const c = (await svg.boundingBox())!;
      const label = await boxes(
        page,
        `section.account[data-account-id="${accounts[i]!.accountId}"] svg.calendar text.m`,
      );
      label.forEach((a, j) => {
        expect(inside(a, c), `${from}: label ${texts[j]} inside its calendar`).toBe(true);
        label
          .slice(j + 1)
          .forEach((b, k) =>
            expect(overlaps(a, b), `${from}: ${texts[j]} and ${texts[j + k + 1]} overlap`).toBe(false),
          );
      });
    }
    await page.close();
  });

  it('paints each day in its state colour on a real screenshot', async () => {
    const page = await open(1280);
    const first = page.locator('section.account svg.calendar').first();
    const counts = await colourCounts(await first.screenshot());
    const cell = (await first.locator('g.day rect').first().boundingBox())!;
    const area = cell.width * cell.height;
    const a = ACCOUNTS[0]!;
    // Rounded corners and the "!"/"?" marks take a little of each square; the rest is its colour.
    expect(counts.proved! / area).toBeGreaterThan(a.days.proved * 0.8);
    expect(counts.proved! / area).toBeLessThan(a.days.proved * 1.05);
    expect(counts.broken! / area).toBeGreaterThan(a.days.broken * 0.6);
    expect(counts.broken! / area).toBeLessThan(a.days.broken * 1.05);
    expect(counts.unproved! / area).toBeGreaterThan(a.days.unproved * 0.6);
    expect(counts.unproved! / area).toBeLessThan(a.days.unproved * 1.05);
    // Weekends inside the period are grey squares (the last week has none after Friday).
    const weekends = eachDay(FROM, addDays(TO, 0)).filter((d) => isWeekend(d)).length;
    expect(counts.none! / area).toBeGreaterThan(weekends * 0.8);
    await page.close();
  });
});
