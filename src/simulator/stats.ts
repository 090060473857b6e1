/**
 * Bench support. `SimStats` counts requests and the CPU the simulator spent answering them (measured
 * around each handler with `process.cpuUsage`, so a benchmark can subtract the fake bank's cost);
 * `ResponseCache` keeps rendered bodies so a repeated page costs a map lookup instead of a render.
 */
export interface SimulatorStats {
  requests: number;
  byPath: Record<string, number>;
  byStatus: Record<string, number>;
  faultsInjected: number;
  cacheHits: number;
  cachedBytes: number;
  bytesSent: number;
  /** User + system CPU microseconds spent inside request handlers. */
  cpuMicros: number;
}

export class SimStats {
  #requests = 0;
  #byPath: Record<string, number> = {};
  #byStatus: Record<string, number> = {};
  #bytes = 0;
  #cpu = 0;

  record(path: string, status: number, bytes: number, cpu: NodeJS.CpuUsage): void {
    this.#requests++;
    this.#byPath[path] = (this.#byPath[path] ?? 0) + 1;
    const s = status === 0 ? 'no-response' : String(status);
    this.#byStatus[s] = (this.#byStatus[s] ?? 0) + 1;
    this.#bytes += bytes;
    this.#cpu += cpu.user + cpu.system;
  }

  snapshot(faultsInjected: number, cache?: ResponseCache): SimulatorStats {
    return {
      requests: this.#requests,
      byPath: { ...this.#byPath },
      byStatus: { ...this.#byStatus },
      faultsInjected,
      cacheHits: cache?.hits ?? 0,
      cachedBytes: cache?.bytes ?? 0,
      bytesSent: this.#bytes,
      cpuMicros: this.#cpu,
    };
  }
}

/** Rendered bodies by request+clock key, oldest dropped first once over the byte budget. */
export class ResponseCache {
  readonly #maxBytes: number;
  readonly #map = new Map<string, Buffer>();
  bytes = 0;
  hits = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(key: string): Buffer | undefined {
    const hit = this.#map.get(key);
    if (hit) {
      this.hits++;
    }
    return hit;
  }

  set(key: string, body: Buffer): void {
    if (body.length > this.#maxBytes || this.#map.has(key)) {
      return;
    }
    this.#map.set(key, body);
    this.bytes += body.length;
    for (const [oldKey, old] of this.#map) {
      if (this.bytes <= this.#maxBytes) {
        break;
      }
      this.#map.delete(oldKey);
      this.bytes -= old.length;
    }
  }

  clear(): void {
    this.#map.clear();
    this.bytes = 0;
  }
}
