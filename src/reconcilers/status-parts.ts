// Status pieces every reconciler writes the same way: the gate conditions (Authorized,
// PolicyAllowed, Ready), the bounded decision list, and requeue delays.
import type { Condition, PolicyDecision } from '../api/types.generated.ts';
import { setCondition } from '../operator/conditions.ts';
import type { Tri } from './tool-grant-state.ts';

export interface GateOutcome {
  authorized: Tri;
  /** Reason when authorized is False (AuthorityExpired, PermissionDenied...). */
  authorizedReason: string;
  policyAllowed: Tri;
  ready: boolean;
  reason: string;
  message: string;
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
  set({ type: 'Ready', status: g.ready ? 'True' : 'False', reason: g.reason, message: g.message });
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
