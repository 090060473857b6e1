import type { SimRequestRecord } from '../../../src/simulator/index.ts';

/**
 * Sliding-window sums over the simulator's request log, per client certificate (one per integration): the most
 * `weight` (default 1 per call) the calls arriving within any `windowMs` add up to.
 */
export function maxPerWindow(
  log: readonly SimRequestRecord[],
  windowMs: number,
  weight: (r: SimRequestRecord) => number = () => 1,
): Map<string, number> {
  const byClient = new Map<string, { at: number; w: number }[]>();
  for (const r of log) {
    const list = byClient.get(r.client) ?? [];
    list.push({ at: r.at, w: weight(r) });
    byClient.set(r.client, list);
  }
  const out = new Map<string, number>();
  for (const [client, calls] of byClient) {
    calls.sort((a, b) => a.at - b.at);
    let max = 0;
    let sum = 0;
    let lo = 0;
    for (const c of calls) {
      sum += c.w;
      while (c.at - calls[lo]!.at >= windowMs) {
        sum -= calls[lo]!.w;
        lo++;
      }
      max = Math.max(max, sum);
    }
    out.set(client, max);
  }
  return out;
}

/** The dates a bank call asked for: a relative day, or a range (from the query, or a balance request's body). */
export function requestedDates(r: SimRequestRecord): { relative: string } | { from: string; to: string } | undefined {
  let fields: { relativeDateType?: unknown; startDate?: unknown; endDate?: unknown } = {};
  if (r.path.startsWith('/tsapi/')) {
    const q = new URLSearchParams(r.query);
    fields = {
      relativeDateType: q.get('relativeDateType') ?? undefined,
      startDate: q.get('startDate') ?? undefined,
      endDate: q.get('endDate') ?? undefined,
    };
  } else {
    try {
      fields = JSON.parse(r.body || '{}') as typeof fields;
    } catch {
      return undefined;
    }
  }
  if (typeof fields.startDate === 'string' && typeof fields.endDate === 'string') {
    return { from: fields.startDate, to: fields.endDate };
  }
  return { relative: typeof fields.relativeDateType === 'string' ? fields.relativeDateType : 'CURRENT_DAY' };
}
