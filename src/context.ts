import type { Config, Secrets } from './config/index.ts';
import { createLogger, type Logger } from './shared/logger.ts';
import { createDb, type Database } from './storage/db.ts';

/**
 * The composition root: everything a process role needs, built once from config. Each entry point
 * in main/ calls createContext and owns `close()`. No module reaches for globals instead.
 */
export interface AppContext {
  config: Config;
  secrets: Secrets;
  db: Database;
  logger: Logger;
  /** Releases pools and connections; each step is guarded so one failure does not skip the rest. */
  close(): Promise<void>;
}

export function createContext(config: Config, secrets: Secrets): AppContext {
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: config.database.poolMax });
  const logger = createLogger('main');
  const closers: { name: string; close: () => Promise<void> }[] = [{ name: 'db', close: () => db.destroy() }];
  return {
    config,
    secrets,
    db,
    logger,
    async close() {
      for (const c of closers.reverse()) {
        try {
          await c.close();
        } catch (err) {
          logger.warn({ err, resource: c.name }, 'resource failed to close');
        }
      }
    },
  };
}
