// Every command (apply, revoke, start, cancel, run, bind, export) leaves three traces: a line
// in the hash-chained audit log, a Kubernetes Event, and an entry in status.operation.events
// (the reconciler adds that one with the status it writes). The audit line is written first
// and must succeed: if it cannot be made durable the reconcile fails and is retried, so no
// state change is ever published without its audit record. Each decision is recorded once:
// a reconcile that fails after its audit line (status write refused, timeout, the process
// killed) is retried on the same object version and decides the same again, and finds that
// decision remembered (#lastAudited, keyed as in command-memory.ts) — in the same process,
// or, after a restart or leader failover, because the memory is first filled from the
// chain's newest entries (#recall). Only decisions that carry an object uid and version are
// told apart this way; the rest are always recorded.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { OperationType } from '../api/types.generated.ts';
import { operationIds } from '../api/operation.ts';
import { decisionKey, recalledDecisions } from './command-memory.ts';
import type { AuditOutcome } from '../governance/audit-log.ts';
import type { AuditStore } from '../governance/audit-store.ts';
import { auditedDecisions, type Decision } from '../governance/decision.ts';
import type { EventRecorder } from '../operator/events.ts';
import { RecentMap } from '../operator/recent-map.ts';

export interface Command {
  operationType: OperationType;
  outcome: AuditOutcome;
  /** CamelCase reason for the Event (e.g. Activated, Denied, Revoked). */
  reason: string;
  message: string;
  warning?: boolean;
  actor: string;
  delegate?: string;
  decisions?: Decision[];
}

/**
 * Objects whose last audited command is remembered (oldest forgotten first), and how many of
 * the chain's newest entries a new leader reads to remember them: a record its predecessor
 * stored without the status write that follows is among the newest (the pending ones are as
 * many as reconciles ran at once, plus those whose status write kept failing).
 */
const REMEMBERED = 10_000;

export class CommandRecorder {
  readonly #audit: AuditStore;
  readonly #events: EventRecorder;
  /**
   * uid → the key of the last decision audited for it (command-memory.ts). A reconcile that
   * fails after its audit line is retried on the same object version and decides the same
   * again; its line is durable already, and writing it twice would make one decision read as
   * two.
   */
  readonly #lastAudited = new RecentMap<string, string>(REMEMBERED);
  readonly #recallEntries: number;
  /** Set once the memory holds what the chain's newest entries recorded. */
  #recalled = false;
  #recalling: Promise<void> | undefined;

  constructor(audit: AuditStore, events: EventRecorder, options: { recallEntries?: number } = {}) {
    this.#audit = audit;
    this.#events = events;
    this.#recallEntries = options.recallEntries ?? REMEMBERED;
  }

  async record(obj: KubernetesObject, command: Command): Promise<void> {
    const meta = obj.metadata ?? {};
    const decided = meta.uid && meta.resourceVersion ? decisionKey(meta.resourceVersion, command.operationType, command.outcome, command.message) : undefined;
    if (decided !== undefined && !this.#recalled) await this.#recall();
    if (decided === undefined || this.#lastAudited.get(meta.uid!) !== decided) {
      await this.#append(obj, command);
      if (decided !== undefined) this.#lastAudited.remember(meta.uid!, decided);
    }
    // Not awaited: the Event is written behind the reconcile (see EventRecorder).
    void this.#events.record(obj, {
      type: command.warning ? 'Warning' : 'Normal',
      reason: command.reason,
      action: command.operationType,
      note: command.message,
    });
  }

  /**
   * Fills the memory from the chain's newest entries, once, before the first record. That
   * first record is made after this replica became the leader (controllers and the gateway
   * start only then), so the entries read include everything its predecessor stored. Until
   * they can be read nothing is recorded (the reconcile fails and is retried): appending
   * without them could record a decision twice.
   */
  #recall(): Promise<void> {
    this.#recalling ??= this.#audit.recent(this.#recallEntries).then(
      (entries) => {
        for (const [uid, key] of recalledDecisions(entries)) this.#lastAudited.remember(uid, key);
        this.#recalled = true;
      },
      (err: unknown) => {
        this.#recalling = undefined;
        throw new Error(`cannot read the newest audit entries (needed to record each decision once): ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    return this.#recalling;
  }

  /** An Event only, for what is no command (a deletion the controller holds): nothing audited. */
  notice(obj: KubernetesObject, event: { warning: boolean; reason: string; action: string; message: string }): void {
    void this.#events.record(obj, { type: event.warning ? 'Warning' : 'Normal', reason: event.reason, action: event.action, note: event.message });
  }

  async #append(obj: KubernetesObject, command: Command): Promise<void> {
    const meta = obj.metadata ?? {};
    await this.#audit.append({
      operationType: command.operationType,
      commandRef: operationIds(meta.uid ?? 'unknown', command.operationType).commandRef,
      object: {
        kind: obj.kind ?? 'Unknown',
        ...(meta.namespace ? { namespace: meta.namespace } : {}),
        name: meta.name ?? '',
        ...(meta.uid ? { uid: meta.uid } : {}),
        ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
      },
      actor: command.actor,
      ...(command.delegate ? { delegate: command.delegate } : {}),
      outcome: command.outcome,
      reason: command.message,
      ...(command.decisions ? { decisions: auditedDecisions(command.decisions) } : {}),
    });
  }
}
