// Applies retention (retention.ts) to the output registry now and then: walks the
// agent-machine/ repositories, reads each output artifact's manifest and deletes the ones the
// policy says are past their time (registry DELETE of the manifest; the registry must allow
// deletes: storage.delete.enabled). Runs on the leader only, like every Runnable. A registry
// that does not answer skips the round; the next one tries again.
import type { Logger } from '../observability/logger.ts';
import type { Runnable } from '../operator/manager.ts';
import { periodicRunnable } from '../operator/periodic-runnable.ts';
import { RegistryError, type OciRegistry } from './oci-registry.ts';
import { REPOSITORY_PREFIX } from './output-store.ts';
import { retentionVerdict, type RetentionPolicy } from './retention.ts';

export interface SweepResult {
  deleted: string[];
  kept: number;
}

export async function sweepOutputs(registry: OciRegistry, policy: RetentionPolicy, now: Date): Promise<SweepResult> {
  const result: SweepResult = { deleted: [], kept: 0 };
  for (const repo of await registry.repositories()) {
    if (!repo.startsWith(REPOSITORY_PREFIX)) continue;
    for (const tag of await registry.tags(repo)) {
      let pulled;
      try {
        pulled = await registry.pullManifest(repo, tag);
      } catch (err) {
        // A tag whose manifest was deleted (by an earlier round, or another replica) is not an error.
        if (err instanceof RegistryError && err.status === 404) continue;
        throw err;
      }
      const { digest, manifest } = pulled;
      if (retentionVerdict(manifest, now, policy).delete) {
        await registry.deleteManifest(repo, digest);
        result.deleted.push(`${repo}@${digest}`);
      } else result.kept++;
    }
  }
  return result;
}

export function outputRetentionSweeper(registry: OciRegistry, policy: RetentionPolicy, logger: Logger, opts: { intervalMs?: number; now?: () => Date } = {}): Runnable {
  const shortest = Math.min(policy.provisionalMs ?? Infinity, policy.admittedMs ?? Infinity);
  // A quarter of the shortest retention, between 1 s and 10 min: an output outlives its
  // retention by at most that much.
  const interval = opts.intervalMs ?? Math.max(1000, Math.min(10 * 60_000, shortest / 4));
  const log = logger.child({ component: 'output-retention' });
  const round = async (): Promise<void> => {
    try {
      const r = await sweepOutputs(registry, policy, (opts.now ?? (() => new Date()))());
      if (r.deleted.length > 0) log.info({ deleted: r.deleted.length, kept: r.kept, artifacts: r.deleted }, 'deleted outputs past their retention');
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'output retention skipped this round');
    }
  };
  return periodicRunnable('output-retention', interval, round);
}
