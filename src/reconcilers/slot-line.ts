// Who holds and who waits for each profile's agentConcurrency slots, kept from the executions
// informer's events. Every reconcile of a waiting execution asks "how many slots are held, and
// who is ahead of me?"; answering it by scanning every cached execution made a burst of 1,000
// executions quadratic in copies of the whole cache (a tenth of the controller's CPU).
import type { LocalAgentExecution } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import { objectKey } from '../operator/resource.ts';
import { holdsSlot, isTerminalExecutionPhase, type SlotCandidate } from './execution-state.ts';

interface ProfileLine {
  holders: Set<string>;
  waiting: Map<string, SlotCandidate>;
}

export class SlotLine {
  readonly #lines = new Map<string, ProfileLine>();
  /** key → the profile it is filed under, to unfile it when it moves or goes. */
  readonly #profileOf = new Map<string, string>();

  /** Register before any handler that reads the line: handlers run in registration order. */
  constructor(executions: Informer<LocalAgentExecution>) {
    executions.on({ add: (e) => this.#file(e), update: (e) => this.#file(e), delete: (e) => this.#unfile(objectKey(e)) });
  }

  /** Keys holding a slot of the profile (Running, Retrying). */
  holders(profile: string): ReadonlySet<string> {
    return this.#lines.get(profile)?.holders ?? new Set();
  }

  /** Executions of the profile neither finished nor holding a slot, in no particular order. */
  waiting(profile: string): SlotCandidate[] {
    return [...(this.#lines.get(profile)?.waiting.values() ?? [])];
  }

  #file(e: LocalAgentExecution): void {
    const key = objectKey(e);
    this.#unfile(key);
    const phase = e.status?.phase;
    if (isTerminalExecutionPhase(phase)) return;
    const profile = e.spec.profileRef.name;
    let line = this.#lines.get(profile);
    if (!line) this.#lines.set(profile, (line = { holders: new Set(), waiting: new Map() }));
    if (holdsSlot(phase)) line.holders.add(key);
    else line.waiting.set(key, { key, createdAt: createdAt(e) });
    this.#profileOf.set(key, profile);
  }

  #unfile(key: string): void {
    const profile = this.#profileOf.get(key);
    if (profile === undefined) return;
    this.#profileOf.delete(key);
    const line = this.#lines.get(profile)!;
    line.holders.delete(key);
    line.waiting.delete(key);
    if (line.holders.size === 0 && line.waiting.size === 0) this.#lines.delete(profile);
  }
}

/** The API server's RFC 3339 timestamps sort as strings; parsing them per comparison did not. */
function createdAt(e: LocalAgentExecution): string {
  const t = e.metadata.creationTimestamp as unknown;
  return typeof t === 'string' ? t : t ? new Date(t as Date).toISOString() : '';
}
