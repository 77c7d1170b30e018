// Removes containers no ContainerExecutionRecord owns any more: a record deleted while the
// controller was away with its finalizer forced off, or an interrupted remove(). Runs on the
// leader only (a Manager runnable), once the caches are synced and then periodically, so it
// never mistakes a record the cache has not seen yet for a missing one.
import type { Runnable } from '../operator/manager.ts';
import { periodicRunnable } from '../operator/periodic-runnable.ts';
import { RuntimeUnavailableError } from '../runtimes/container-runtime.ts';
import type { ReconcilerDeps } from './deps.ts';
import { BY_UID, indexed } from './indexes.ts';

export function orphanSweeper(deps: ReconcilerDeps, opts: { intervalMs?: number; namespace?: string | undefined } = {}): Runnable {
  const interval = opts.intervalMs ?? 5 * 60_000;
  const log = deps.logger.child({ component: 'orphan-sweeper' });
  const recordWithUid = indexed(deps.informers.containers, BY_UID);

  async function sweep(): Promise<void> {
    if (!deps.informers.containers.hasSynced()) return;
    for (const [kind, runtime] of Object.entries(deps.runtimes)) {
      let uids: string[];
      try {
        uids = await runtime!.listRecordUids(opts.namespace);
        // Also the runtime's periodic health check: agent_machine_runtime_up recovers (or
        // drops) even when no record is being reconciled.
        deps.metrics.runtimeUp.set({ runtime: kind }, 1);
      } catch (err) {
        if (err instanceof RuntimeUnavailableError) deps.metrics.runtimeUp.set({ runtime: kind }, 0);
        log.debug({ runtime: kind, err: String(err) }, 'runtime not reachable: sweep skipped');
        continue;
      }
      for (const uid of uids) {
        // Read from the cache right before removing: a record may have just arrived.
        if (recordWithUid(uid).length > 0) continue;
        await runtime!.remove(uid).then(
          () => log.info({ runtime: kind, recordUid: uid }, 'removed an orphaned container (its record is gone)'),
          (err: unknown) => log.warn({ runtime: kind, recordUid: uid, err: String(err) }, 'could not remove an orphaned container'),
        );
      }
    }
  }

  return periodicRunnable('orphan-sweeper', interval, sweep);
}
