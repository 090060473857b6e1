/**
 * The service's HTTP app (`buildApiApp`: security headers, request ids, request logs, API-key auth,
 * zod validation, the read API routes) over a real context, configured from the environment the
 * parent passes (NODE_ENV=production, LOG_FORMAT=json). Its stdout (the request log) goes to
 * /dev/null; it reports `ready` with its port over IPC.
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config/index.ts';
import { createContext } from '../../src/main/context.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { initLogger } from '../../src/shared/logger.ts';

const { config, secrets } = loadConfig(process.env);
initLogger({ level: config.log.level, format: config.log.format });
const ctx = createContext(config, secrets);
const app = buildApiApp(ctx);
const server = app.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  void ctx.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('disconnect', stop);
