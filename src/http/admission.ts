import type { Request, RequestHandler, Response } from 'express';
import { httpRequestsShedTotal } from '../shared/metrics.ts';
import { buildProblem } from './errors.ts';
import { findRequestContext } from './request-context.ts';
import { sendJson } from './respond.ts';

/**
 * Bounded admission per process: at most `maxConcurrent` requests are handled at once, at most
 * `maxQueue` more wait (first come, first served) for up to `queueTimeoutMs`, and everything beyond
 * is answered at once with `503 overloaded` + `Retry-After`. Under a burst the process keeps serving
 * at full speed instead of letting every request queue for the database pool until clients time out
 * and the pool's own timeout turns them into 500s (what 200 concurrent reads did before).
 *
 * The operations endpoints (/healthz, /readyz, /metrics) bypass it, so probes and scrapes still
 * answer under load; `/readyz` reports `saturated` (503) while the wait queue is full.
 */
export interface AdmissionSettings {
  maxConcurrent: number;
  maxQueue: number;
  queueTimeoutMs: number;
}

export interface AdmissionState {
  inFlight: number;
  queued: number;
  maxConcurrent: number;
  maxQueue: number;
  /** The wait queue is full: new requests are being shed. */
  saturated: boolean;
}

/** Seconds a shed client is asked to wait; short, since a burst usually drains within a second or two. */
export const RETRY_AFTER_SECONDS = 2;

const BYPASS = new Set(['/healthz', '/readyz', '/metrics']);

interface Waiter {
  admit(): void;
}

export class Admission {
  readonly #settings: AdmissionSettings;
  #inFlight = 0;
  readonly #queue: Waiter[] = [];

  constructor(settings: AdmissionSettings) {
    this.#settings = settings;
  }

  state(): AdmissionState {
    const { maxConcurrent, maxQueue } = this.#settings;
    return {
      inFlight: this.#inFlight,
      queued: this.#queue.length,
      maxConcurrent,
      maxQueue,
      saturated: this.#queue.length >= maxQueue && this.#inFlight >= maxConcurrent,
    };
  }

  middleware(): RequestHandler {
    return (req, res, next) => {
      if (BYPASS.has(req.path)) {
        next();
        return;
      }
      if (this.#inFlight < this.#settings.maxConcurrent) {
        this.#start(res);
        next();
        return;
      }
      if (this.#queue.length >= this.#settings.maxQueue) {
        void shed(req, res, 'queue_full');
        return;
      }
      const leave = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) {
          this.#queue.splice(i, 1);
        }
      };
      // A client that gave up while waiting takes no slot.
      const onGone = () => {
        clearTimeout(timer);
        leave();
      };
      const timer = setTimeout(() => {
        leave();
        res.off('close', onGone);
        void shed(req, res, 'queue_timeout');
      }, this.#settings.queueTimeoutMs);
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(timer);
          res.off('close', onGone);
          this.#start(res);
          next();
        },
      };
      res.once('close', onGone);
      this.#queue.push(waiter);
    };
  }

  #start(res: Response): void {
    this.#inFlight++;
    res.once('close', () => {
      this.#inFlight--;
      this.#queue.shift()?.admit();
    });
  }
}

async function shed(req: Request, res: Response, reason: 'queue_full' | 'queue_timeout'): Promise<void> {
  httpRequestsShedTotal.inc({ reason });
  const ctx = findRequestContext(req);
  ctx?.log.debug({ reason }, 'request shed');
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  const problem = buildProblem(
    503,
    'overloaded',
    `The service is at capacity; retry after ${RETRY_AFTER_SECONDS} seconds.`,
    ctx?.requestId ?? 'unknown',
  );
  if (!ctx) {
    res.status(503).type('application/problem+json').send(JSON.stringify(problem));
    return;
  }
  await sendJson(req, res, 503, problem);
}
