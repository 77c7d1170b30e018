// A policy decision is data, never control flow: every gate returns a list of these, and the
// same list lands in status.decisions and the audit log, so "why was this denied?" is always
// answerable from the object itself.
import type { PolicyDecision } from '../api/types.generated.ts';

export type Decision = PolicyDecision;

// The CRD caps these fields (policyDecision in contracts/common.schema.json); a decision that
// does not fit would make the whole status write fail, which would hide the denial.
const MAX_GATE = 64;
const MAX_RULE = 256;
const MAX_MESSAGE = 1024;

export function clamp(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function decision(gate: string, rule: string, allowed: boolean, message: string): Decision {
  return {
    gate: clamp(gate, MAX_GATE),
    rule: clamp(rule, MAX_RULE),
    allowed,
    message: clamp(message, MAX_MESSAGE),
  };
}

export function allow(gate: string, rule: string, message: string): Decision {
  return decision(gate, rule, true, message);
}

export function deny(gate: string, rule: string, message: string): Decision {
  return decision(gate, rule, false, message);
}

/**
 * How an allowed decision that must stand out in the audit trail begins (a profile let a
 * container mount a credential store): kept ahead of the other allows when the list is cut.
 */
export const CREDENTIAL_MOUNT = 'credential mount: ';

/** How many decisions one audit entry keeps. */
export const MAX_AUDITED_DECISIONS = 16;

/**
 * What the audit log keeps of a command's decisions: every one (upstream wants a policy gate
 * record per decision, allows included), bounded. When a command took more than the bound,
 * denials go first, then credential mounts, then the other allows, so what is cut is the
 * least telling; order within each group is kept.
 */
export function auditedDecisions(decisions: readonly Decision[]): Decision[] {
  const rank = (d: Decision) => (!d.allowed ? 0 : d.message.startsWith(CREDENTIAL_MOUNT) ? 1 : 2);
  return decisions
    .map((d, i) => ({ d, i }))
    .sort((a, b) => rank(a.d) - rank(b.d) || a.i - b.i)
    .slice(0, MAX_AUDITED_DECISIONS)
    .map(({ d }) => d);
}

/**
 * How a denial begins when the CEL evaluator, not the rule, ended an evaluation (the wall-clock
 * guard fired, the worker could not start or crashed): the one kind of decision that can depend
 * on how busy the machine was, so it carries a reason of its own (see policyDenialReason).
 */
export const EVALUATION_STOPPED = 'evaluation stopped: ';

// Denials that name whose authority was borrowed get a reason of their own, so that the
// condition says "someone else's" and not just "policy".
const REASON_BY_RULE: Record<string, 'GrantDelegatorMismatch' | 'BindingOwnerMismatch' | 'TenantMismatch'> = {
  'grant.delegator': 'GrantDelegatorMismatch',
  'grant.tenant': 'TenantMismatch',
  'binding.owner': 'BindingOwnerMismatch',
  'binding.tenant': 'TenantMismatch',
};

/** The condition reason for a policy denial: PolicyEvaluationStopped when the clock decided. */
export function policyDenialReason(decisions: readonly Decision[]): 'PolicyDenied' | 'PolicyEvaluationStopped' | 'GrantDelegatorMismatch' | 'BindingOwnerMismatch' | 'TenantMismatch' {
  const first = firstDenial(decisions);
  if (first?.message.startsWith(EVALUATION_STOPPED)) return 'PolicyEvaluationStopped';
  return (first && REASON_BY_RULE[first.rule]) ?? 'PolicyDenied';
}

export function firstDenial(decisions: readonly Decision[]): Decision | undefined {
  return decisions.find((d) => !d.allowed);
}

/** Fail closed: no decision at all is not permission. */
export function allAllowed(decisions: readonly Decision[]): boolean {
  return decisions.length > 0 && decisions.every((d) => d.allowed);
}

/** Renders a list for a message, bounded so one long list cannot push the rest out of the message. */
export function listForMessage(items: readonly string[], maxChars = 400): string {
  const text = `[${items.join(', ')}]`;
  return clamp(text, maxChars);
}
