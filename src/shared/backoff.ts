/** Full-jitter-ish exponential backoff: between half and all of base·2^(attempt-1), capped. */
export function retryDelayMs(attempt: number, retry: { baseMs: number; maxMs: number }, random = Math.random): number {
  const ceiling = Math.min(retry.maxMs, retry.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}
