// The end of every governed reconcile: audit the decision if it is a transition (the audit
// line durable before anything is published, see command-recorder.ts), count a denial, then
// write the whole status once — the kind's fields, the gate conditions with kstatus'
// Reconciling/Stalled, the bounded decisions and the operation — and say when to look again.
import type { OperationType } from '../../api/types.generated.ts';
import { nextOperation } from '../../api/operation.ts';
import { getCondition, type setCondition } from '../../operator/conditions.ts';
import type { ReconcileResult } from '../../operator/controller.ts';
import type { StatusWriteResult } from '../../operator/status-writer.ts';
import { firstDenial, type Decision } from '../../governance/decision.ts';
import { removePrompts, type PromptMatcher } from '../../redaction/prompt-matcher.ts';
import type { ReconcilerDeps } from '../deps.ts';
import { executionUidOf } from '../prompt-lifetime.ts';
import type { Tri } from '../facts.ts';
import type { GovernedKind, GovernedObject } from './governed-kind.ts';
import { boundedDecisions, gateConditions, requeueAfter } from './status-parts.ts';
import { admissionLogLine } from './admission-log.ts';

export type ConditionInput = Parameters<typeof setCondition>[1];

export interface Verdict<P extends string> {
  phase: P;
  reason: string;
  message: string;
  /** The operation status.operation tracks. */
  operationType: OperationType;
  /** The command audited, when not operationType (an execution audits its cancel). */
  auditedAs?: OperationType;
  decisions: Decision[];
  authorized: Tri;
  policyAllowed: Tri;
  /** The kind's own conditions, between PolicyAllowed and Ready. */
  conditions?: ConditionInput[];
  requeueAfterMs?: number;
  /**
   * Waiting for something that will come (a profile not yet reconciled): audited as queued
   * with a Normal event, whatever the phase's projection says about a failure.
   */
  waiting?: boolean;
}

export interface Settled<T extends GovernedObject> {
  result: ReconcileResult | undefined;
  written: StatusWriteResult<T>;
}

export interface Settlement<P extends string> {
  verdict: Verdict<P>;
  /**
   * The kind's part of the status (phase, timestamps, results): first in the status object, in
   * the order given; conditions, decisions and operation follow.
   */
  fields: Record<string, unknown>;
  /** The time the decision was made at (transition times, operation events). */
  now: Date;
  /** Runs after the audit and before the status write: what must not be published unaudited. */
  beforeWrite?: () => Promise<void> | void;
}

export async function settle<T extends GovernedObject, P extends string>(deps: ReconcilerDeps, kind: GovernedKind<T, P>, obj: T, s: Settlement<P>): Promise<Settled<T>> {
  const { now } = s;
  // Messages can quote what a container or runtime said: no prompt the gateway forwarded for
  // the execution reaches the audit log, the Event or the status.
  const v = withoutPrompts(s.verdict, deps.prompts?.matcher([executionUidOf(obj)]));
  const prev = obj.status;
  const projected = kind.projection[v.phase];
  const p = v.waiting ? { ...projected, outcome: 'queued' as const, warning: false } : { ...projected, warning: kind.warns?.(v.phase, v.reason) ?? projected.warning };
  if (isTransition(kind, obj, v)) {
    await deps.recorder.record(obj, {
      operationType: v.auditedAs ?? v.operationType,
      outcome: p.outcome,
      reason: kind.eventReason?.[v.phase] ?? v.reason,
      message: v.message,
      warning: p.warning,
      actor: obj.spec.authority.delegator,
      delegate: obj.spec.authority.delegate,
      decisions: v.decisions,
    });
    const denied = kind.countsDenial(v.phase) ? firstDenial(v.decisions) : undefined;
    if (denied) deps.metrics.policyDenials.inc({ gate: denied.gate });
    const line = admissionLogLine({ kind: kind.resource.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid, phase: v.phase, reason: v.reason, outcome: p.outcome, waiting: v.waiting === true, decisions: v.decisions });
    if (line) deps.logger.warn(line.fields, line.msg);
  }
  await s.beforeWrite?.();
  const status = {
    ...s.fields,
    // The generation this decision was made on, whatever a kind's fields carried over from the
    // previous status (an execution keeps its fields): a stale one reads as InProgress forever
    // to kstatus, Flux and Argo CD.
    ...(obj.metadata.generation !== undefined ? { observedGeneration: obj.metadata.generation } : {}),
    conditions: gateConditions(
      prev?.conditions,
      obj.metadata.generation,
      now,
      { authorized: v.authorized, authorizedReason: v.reason, policyAllowed: v.policyAllowed, ready: v.phase === kind.readyPhase, reason: v.reason, message: v.message, phase: v.phase },
      v.conditions,
    ),
    decisions: boundedDecisions(v.decisions),
    operation: nextOperation(prev?.operation, obj.metadata.uid!, { operationType: v.operationType, state: p.state, event: { eventType: p.event, details: v.message } }, now),
  };
  const written = await deps.status.write(kind.resource, obj, status);
  return { result: requeueAfter(v.requeueAfterMs), written };
}

function withoutPrompts<P extends string>(v: Verdict<P>, prompts: PromptMatcher | undefined): Verdict<P> {
  if (!prompts) return v;
  return {
    ...v,
    message: removePrompts(v.message, prompts),
    ...(v.conditions ? { conditions: v.conditions.map((c) => (c.message === undefined ? c : { ...c, message: removePrompts(c.message, prompts) })) } : {}),
  };
}

function isTransition<T extends GovernedObject, P extends string>(kind: GovernedKind<T, P>, obj: T, v: Verdict<P>): boolean {
  if (kind.phaseOf(obj) !== v.phase) return true;
  if (kind.auditOn === 'phase') return false;
  if (getCondition(obj.status?.conditions, 'Ready')?.reason !== v.reason) return true;
  return kind.auditOn === 'phase-reason-or-generation' && obj.status?.observedGeneration !== obj.metadata.generation;
}
