import './node-version.ts';
import { createContext } from './context.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { onShutdown, runSteps, stopTogether, type Stoppable } from './lifecycle.ts';
import { startApi } from './api.ts';
import { startScheduler } from './scheduler.ts';
import { startWorker } from './worker.ts';
import type { Role } from '../config/index.ts';
import type { AppContext } from './context.ts';

/**
 * `npm start`: runs the roles named in ROLES (default api,worker,scheduler) in one process. Each role
 * can also run alone (ROLES=worker) so it scales on its own machines.
 */
const STARTERS: Record<Role, (ctx: AppContext) => Promise<Stoppable>> = {
  api: startApi,
  worker: startWorker,
  scheduler: startScheduler,
};

const { config, secrets, logger } = loadConfigOrExit();
await checkDependencies(config, secrets, { redis: true, migrated: true }).catch(exitOnDependencyError);
const ctx = createContext(config, secrets);
const started: Stoppable[] = [];
// Intake (api) closes first, then the workers stop taking jobs and release or finish theirs, then the scheduler;
// the roles' stops run side by side from there, so requests still in flight (a slow client may hold one until the
// deadline) never delay giving the sync windows back. Then pools.
const order: Role[] = ['api', 'worker', 'scheduler'];
const stopSteps = () => [
  {
    name: 'roles',
    stop: () =>
      stopTogether(
        logger,
        order.flatMap((r) => started.filter((s) => s.name === r)),
      ),
  },
  { name: 'context', stop: () => ctx.close() },
];
onShutdown(logger, config.shutdownTimeoutMs, stopSteps);
try {
  for (const role of config.roles) {
    started.push(await STARTERS[role](ctx));
  }
} catch (err) {
  // A role that cannot start (its port taken, a file it needs unreadable): one line naming what to fix, no stack;
  // the roles already started stop as on SIGTERM.
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  process.stderr.write(`jpm-sync: cannot start: ${message}\n`);
  await runSteps(logger, stopSteps());
  process.exit(1);
}
logger.info({ roles: config.roles }, 'jpm-sync started');
