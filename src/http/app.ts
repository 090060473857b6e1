import express, { type Express } from 'express';

export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}

export interface AppOptions {
  readiness: HealthCheck[];
}

/** The Express app factory. Routers are mounted by main/api.ts; this owns cross-cutting middleware. */
export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      options.readiness.map(async (c) => {
        try {
          await c.check();
          return [c.name, 'ok'] as const;
        } catch {
          return [c.name, 'unavailable'] as const;
        }
      }),
    );
    const ready = results.every(([, s]) => s === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results) });
  });
  return app;
}
