// Each profile's agentConcurrency slots: who holds one (Running, Retrying), who waits for one
// (admitted or not yet, not finished), in creation order, and the slots this process has
// taken whose Running status has not come back through the cache yet. Decided and reserved
// synchronously, so two reconciles can never both take the last slot.
//
// Holders and waiters come from an informer index: every reconcile of a waiting execution asks
// "how many slots are held, and who is ahead of me?", and scanning every cached execution made
// a burst of 1,000 executions quadratic (a tenth of the controller's CPU).
import type { LocalAgentExecution } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import { objectKey } from '../operator/resource.ts';
import { holdsSlot, isTerminalExecutionPhase } from './execution-state.ts';
import type { NamedIndex } from './indexes.ts';

export interface SlotCandidate {
  key: string;
  createdAt: string;
}

/** Creation order; the key breaks ties (the API server's timestamps have 1 s resolution). */
function aheadOf(a: SlotCandidate, b: SlotCandidate): boolean {
  return a.createdAt === b.createdAt ? a.key < b.key : a.createdAt < b.createdAt;
}

/**
 * May `key` start now? Executions wait in creation order: only the first (limit - held)
 * waiting executions may take the free slots. Counts who is ahead instead of sorting the line:
 * it runs on every reconcile of a waiting execution, and 1,000 of them wait in a burst.
 */
export function mayTakeSlot(key: string, limit: number, held: number, waiting: readonly SlotCandidate[]): boolean {
  const free = limit - held;
  if (free <= 0) return false;
  const me = waiting.find((c) => c.key === key);
  if (!me) return false;
  let ahead = 0;
  for (const c of waiting) if (aheadOf(c, me) && ++ahead >= free) return false;
  return true;
}

/** The first n waiting executions in creation order (the ones a freed slot can go to). */
export function firstInLine<T extends SlotCandidate>(waiting: readonly T[], n: number): T[] {
  return [...waiting].sort((a, b) => (aheadOf(a, b) ? -1 : aheadOf(b, a) ? 1 : 0)).slice(0, Math.max(0, n));
}

/** holds/<profile> or waits/<profile>; finished executions are in neither. */
export const BY_SLOT: NamedIndex<LocalAgentExecution> = {
  name: 'agentConcurrencySlot',
  fn: (e) => (isTerminalExecutionPhase(e.status?.phase) || !e.spec?.profileRef?.name ? [] : [`${holdsSlot(e.status?.phase) ? 'holds' : 'waits'}/${e.spec.profileRef.name}`]),
};

/** Where a profile's line stands, seen by one execution (itself not counted as a holder). */
export interface Standing {
  held: number;
  waiting: SlotCandidate[];
}

export class ExecutionSlots {
  readonly #executions: Informer<LocalAgentExecution>;
  /** profile → keys that took a slot in this process, until their status says so (or they end). */
  readonly #reserved = new Map<string, Set<string>>();

  /** Construct before any handler that reads the slots (handlers run in registration order). */
  constructor(executions: Informer<LocalAgentExecution>) {
    this.#executions = executions;
    executions.addIndex(BY_SLOT.name, BY_SLOT.fn);
    // A deleted execution's reservation goes with it, before a watch registered later wakes
    // the next in line: waiting for its own reconcile would count a slot that is free.
    executions.on({ delete: (e) => this.release(objectKey(e)) });
  }

  standing(profile: string, key: string): Standing {
    const holders = new Set([...this.#executions.indexKeys(BY_SLOT.name, `holds/${profile}`), ...(this.#reserved.get(profile) ?? [])]);
    holders.delete(key);
    const waiting = [...this.#executions.indexKeys(BY_SLOT.name, `waits/${profile}`)].map((k) => ({ key: k, createdAt: createdAt(this.#executions.get(k)!) }));
    return { held: holders.size, waiting };
  }

  mayTake(profile: string, key: string, limit: number): boolean {
    const { held, waiting } = this.standing(profile, key);
    return mayTakeSlot(key, limit, held, waiting);
  }

  reserve(profile: string, key: string): void {
    let keys = this.#reserved.get(profile);
    if (!keys) this.#reserved.set(profile, (keys = new Set()));
    keys.add(key);
  }

  /** Drops key's reservation under profile, or under every profile. */
  release(key: string, profile?: string): void {
    if (profile !== undefined) this.#reserved.get(profile)?.delete(key);
    else for (const keys of this.#reserved.values()) keys.delete(key);
  }

  /**
   * Whom a finished or deleted execution's slot can go to: the first ones in line under its
   * profile, as many as the profile has free slots (at least one). Only they can take one:
   * waking every waiting execution on each completion is quadratic.
   */
  toWake(e: LocalAgentExecution, limit: number): string[] {
    if (!isTerminalExecutionPhase(e.status?.phase) && e.metadata.deletionTimestamp === undefined) return [];
    const { held, waiting } = this.standing(e.spec.profileRef.name, objectKey(e));
    return firstInLine(waiting, Math.max(1, limit - held)).map((c) => c.key);
  }
}

/** The API server's RFC 3339 timestamps sort as strings; parsing them per comparison did not. */
function createdAt(e: LocalAgentExecution): string {
  const t = e.metadata.creationTimestamp as unknown;
  return typeof t === 'string' ? t : t ? new Date(t as Date).toISOString() : '';
}
