// Every command (apply, revoke, start, cancel, run, bind, export) leaves three traces: a line
// in the hash-chained audit log, a Kubernetes Event, and an entry in status.operation.events
// (the reconciler adds that one with the status it writes). The audit line is written first
// and must succeed: if it cannot be made durable the reconcile fails and is retried, so no
// state change is ever published without its audit record. A crash between the audit append
// and the status write repeats the record on the next reconcile: at-least-once, never lost.
// A retry in the same process on the same object version does not (see #lastAudited).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { OperationType } from '../api/types.generated.ts';
import { operationIds } from '../api/operation.ts';
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

/** Objects whose last audited command is remembered (oldest forgotten first). */
const REMEMBERED = 10_000;

export class CommandRecorder {
  readonly #audit: AuditStore;
  readonly #events: EventRecorder;
  /**
   * uid → the last command audited for it, with the resourceVersion it was decided on. A
   * reconcile that fails after its audit line (the status write did not go through: API server
   * away, timeout) is retried on the same object version and decides the same again; its line
   * is durable already, and writing it twice would make one decision read as two. Only
   * in-process: a crash in between still repeats it (at-least-once).
   */
  readonly #lastAudited = new RecentMap<string, string>(REMEMBERED);

  constructor(audit: AuditStore, events: EventRecorder) {
    this.#audit = audit;
    this.#events = events;
  }

  async record(obj: KubernetesObject, command: Command): Promise<void> {
    const meta = obj.metadata ?? {};
    const decided = meta.uid && meta.resourceVersion ? [meta.resourceVersion, command.operationType, command.outcome, command.message].join('\u0000') : undefined;
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

  /** An Event only, for what is no command (a deletion the controller holds): nothing audited. */
  notice(obj: KubernetesObject, event: { warning: boolean; reason: string; action: string; message: string }): void {
    void this.#events.record(obj, { type: event.warning ? 'Warning' : 'Normal', reason: event.reason, action: event.action, note: event.message });
  }

  async #append(obj: KubernetesObject, command: Command): Promise<void> {
    const meta = obj.metadata ?? {};
    await this.#audit.append({
      operationType: command.operationType,
      commandRef: operationIds(meta.uid ?? 'unknown', command.operationType).commandRef,
      object: { kind: obj.kind ?? 'Unknown', ...(meta.namespace ? { namespace: meta.namespace } : {}), name: meta.name ?? '', ...(meta.uid ? { uid: meta.uid } : {}) },
      actor: command.actor,
      ...(command.delegate ? { delegate: command.delegate } : {}),
      outcome: command.outcome,
      reason: command.message,
      ...(command.decisions ? { decisions: auditedDecisions(command.decisions) } : {}),
    });
  }
}
