// Status pieces every reconciler writes the same way: the gate conditions (Authorized,
// PolicyAllowed, Ready, and kstatus' Reconciling/Stalled), the bounded decision list, and
// requeue delays.
//
// kstatus (Flux's health checks, kpt, cli-utils) judges custom resources by observedGeneration
// and two abnormal-true conditions: Reconciling=True while the controller still works toward
// what the spec asks, Stalled=True when it cannot get there without someone changing something
// (a denial, a failure). When both are False it falls back to Ready: Ready=False reads as
// InProgress, forever. So a state reached on purpose (a grant revoked or expired, an execution
// cancelled on request) is Ready=True with its own reason: "reconciled to what was asked",
// kstatus' Current. Nothing enforces on Ready for these kinds — the gateway and the gates read
// the phase/state — and the reason (Revoked, AuthorityExpired, Cancelled) says which end it is.
import type { Condition, PolicyDecision } from '../../api/types.generated.ts';
import { setCondition } from '../../operator/conditions.ts';
import type { Tri } from '../facts.ts';

export interface GateOutcome {
  authorized: Tri;
  /** Reason when authorized is False (AuthorityExpired, PermissionDenied...). */
  authorizedReason: string;
  policyAllowed: Tri;
  ready: boolean;
  reason: string;
  message: string;
  /** status.phase (or a grant's state): what Reconciling and Stalled are derived from. */
  phase: string;
}

export type Progress = 'InProgress' | 'Stalled' | 'Done';

/**
 * Where an object stands for kstatus, by phase. Reached what was asked for: Ready, Active,
 * Succeeded, and the terminal states someone chose (Revoked, Expired, a Cancelled that was
 * asked for). Stuck until someone changes something: Denied, Invalid, Failed, and a
 * cancellation the budget forced. Anything else (Pending, Queued, Running, Unreachable, ...)
 * is still being worked on.
 */
export function progressOf(phase: string, reason: string): Progress {
  switch (phase) {
    case 'Ready':
    case 'Active':
    case 'Succeeded':
    case 'Revoked':
    case 'Expired':
      return 'Done';
    case 'Denied':
    case 'Invalid':
    case 'Failed':
      return 'Stalled';
    case 'Cancelled':
      return reason === 'DeadlineExceeded' || reason === 'ComputeBudgetExceeded' ? 'Stalled' : 'Done';
    default:
      return 'InProgress';
  }
}

/** Conditions for the gates; lastTransitionTime moves only when a status flips. */
export function gateConditions(prev: Condition[] | undefined, generation: number | undefined, now: Date, g: GateOutcome, extra: Array<Parameters<typeof setCondition>[1]> = []): Condition[] {
  let conditions = prev;
  const set = (input: Parameters<typeof setCondition>[1]): void => {
    conditions = setCondition(conditions, input, generation, now);
  };
  set({
    type: 'Authorized',
    status: g.authorized,
    reason: g.authorized === 'True' ? 'Authorized' : g.authorized === 'False' ? g.authorizedReason : 'NotEvaluated',
    message: g.authorized === 'False' ? g.message : g.authorized === 'True' ? 'delegation verified' : 'not evaluated: an earlier check decided',
  });
  set({
    type: 'PolicyAllowed',
    status: g.policyAllowed,
    reason: g.policyAllowed === 'True' ? 'PolicyAllowed' : g.policyAllowed === 'False' ? g.reason : 'NotEvaluated',
    message: g.policyAllowed === 'False' ? g.message : g.policyAllowed === 'True' ? 'every policy gate allowed' : 'not evaluated: an earlier check decided',
  });
  for (const input of extra) set(input);
  const progress = progressOf(g.phase, g.reason);
  set({ type: 'Ready', status: g.ready || progress === 'Done' ? 'True' : 'False', reason: g.reason, message: g.message });
  set(progress === 'InProgress' ? { type: 'Reconciling', status: 'True', reason: g.reason, message: g.message } : { type: 'Reconciling', status: 'False', reason: progress === 'Done' ? 'Done' : 'Stalled', message: '' });
  set(progress === 'Stalled' ? { type: 'Stalled', status: 'True', reason: g.reason, message: g.message } : { type: 'Stalled', status: 'False', reason: progress === 'Done' ? 'Done' : 'Progressing', message: '' });
  return conditions!;
}

/** The BudgetAvailable condition: its message only says something when the budget said no. */
export function budgetCondition(status: Tri, denialMessage: string): Parameters<typeof setCondition>[1] {
  const reason = status === 'False' ? 'BudgetExceeded' : status === 'True' ? 'WithinBudget' : 'NotEvaluated';
  return { type: 'BudgetAvailable', status, reason, message: status === 'False' ? denialMessage : '' };
}

const MAX_DECISIONS = 32;

/** The CRD keeps 32 decisions; denials go first so the reason for a refusal is never cut. */
export function boundedDecisions(decisions: readonly PolicyDecision[]): PolicyDecision[] {
  const sorted = [...decisions.filter((d) => !d.allowed), ...decisions.filter((d) => d.allowed)];
  return sorted.slice(0, MAX_DECISIONS);
}

// setTimeout overflows past 2^31-1 ms (~24.8 days) and would fire at once; long waits are
// re-checked periodically instead.
const MAX_REQUEUE_MS = 6 * 60 * 60 * 1000;

export function requeueAfter(ms: number | undefined): { requeueAfterMs: number } | undefined {
  if (ms === undefined) return undefined;
  return { requeueAfterMs: Math.max(1_000, Math.min(ms, MAX_REQUEUE_MS)) };
}

