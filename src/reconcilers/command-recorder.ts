// Every command (apply, revoke, start, cancel, run, bind, export) leaves three traces: a line
// in the hash-chained audit log, a Kubernetes Event, and an entry in status.operation.events
// (the reconciler adds that one with the status it writes). The audit line is written first
// and must succeed: if it cannot be made durable the reconcile fails and is retried, so no
// state change is ever published without its audit record. A crash between the audit append
// and the status write repeats the record on the next reconcile: at-least-once, never lost.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { OperationType } from '../api/types.generated.ts';
import { operationIds } from '../api/operation.ts';
import type { AuditLog, AuditOutcome } from '../governance/audit-log.ts';
import type { Decision } from '../governance/decision.ts';
import type { EventRecorder } from '../operator/events.ts';

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

export class CommandRecorder {
  readonly #audit: AuditLog;
  readonly #events: EventRecorder;

  constructor(audit: AuditLog, events: EventRecorder) {
    this.#audit = audit;
    this.#events = events;
  }

  async record(obj: KubernetesObject, command: Command): Promise<void> {
    const meta = obj.metadata ?? {};
    await this.#audit.append({
      operationType: command.operationType,
      commandRef: operationIds(meta.uid ?? 'unknown', command.operationType).commandRef,
      object: { kind: obj.kind ?? 'Unknown', ...(meta.namespace ? { namespace: meta.namespace } : {}), name: meta.name ?? '', ...(meta.uid ? { uid: meta.uid } : {}) },
      actor: command.actor,
      ...(command.delegate ? { delegate: command.delegate } : {}),
      outcome: command.outcome,
      reason: command.message,
      ...(command.decisions ? { decisions: command.decisions.filter((d) => !d.allowed).slice(0, 8) } : {}),
    });
    await this.#events.record(obj, {
      type: command.warning ? 'Warning' : 'Normal',
      reason: command.reason,
      action: command.operationType,
      note: command.message,
    });
  }
}
