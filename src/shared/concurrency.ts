/**
 * `items.map(fn)` with at most `limit` calls in flight, results in input order: for fan-outs over a
 * shared pool (one database pool serves every request of the process), so one page cannot queue
 * hundreds of queries ahead of everyone else.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
