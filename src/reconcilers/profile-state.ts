// The AgentMachineProfile decision, pure: a profile is Ready when its delegation holds and
// every CEL rule compiles; an invalid profile makes everything referencing it fail closed.
import { firstDenial, type Decision } from '../governance/decision.ts';
import { parseExpiry } from '../governance/authority.ts';
import type { AgentMachineProfile } from '../api/types.generated.ts';
import { permissions } from '../governance/access-review.ts';
import type { AuthorizationOutcome, Permission } from './authorization.ts';
import type { Tri } from './facts.ts';

export type ProfilePhase = NonNullable<NonNullable<AgentMachineProfile['status']>['phase']>;

export interface ProfileFacts {
  profile: AgentMachineProfile;
  now: Date;
  authorization: AuthorizationOutcome;
  /** One decision per CEL rule: does it compile and pass the static checks. */
  ruleChecks: Decision[];
}

export interface ProfileDecision {
  phase: ProfilePhase;
  reason: string;
  message: string;
  authorized: Tri;
  policyAllowed: Tri;
  decisions: Decision[];
  requeueAfterMs?: number;
}

// RBAC changes produce no event: a profile denied for want of permission is looked at again.
export const RECHECK_DENIED_MS = 30_000;

/**
 * What RBAC must allow the delegator: creating profiles. A direct apply already needed it, but
 * a broker (GitOps) applies on behalf of a delegator the API server never checked; without
 * this, anyone a broker names could define the policy everything else runs under.
 */
export function profilePermissions(): Permission[] {
  return [permissions.createProfile()];
}

export function decideProfile(f: ProfileFacts): ProfileDecision {
  const auth = f.authorization;
  const expiry = parseExpiry(f.profile.spec.authority?.expiresAt);
  const requeue = expiry && expiry.getTime() > f.now.getTime() ? { requeueAfterMs: expiry.getTime() - f.now.getTime() } : {};
  if (!auth.allowed) {
    const phase: ProfilePhase = auth.reason === 'AuthorityUnverifiable' ? 'Pending' : 'Invalid';
    const recheck = auth.reason === 'PermissionDenied' ? { requeueAfterMs: RECHECK_DENIED_MS } : {};
    return { phase, reason: auth.reason, message: auth.message, authorized: 'False', policyAllowed: 'Unknown', decisions: auth.decisions, ...recheck };
  }
  const decisions = [...auth.decisions, ...f.ruleChecks];
  const badRule = firstDenial(f.ruleChecks);
  if (badRule) {
    return { phase: 'Invalid', reason: 'InvalidRule', message: badRule.message, authorized: 'True', policyAllowed: 'False', decisions, ...requeue };
  }
  const rules = f.ruleChecks.length;
  return {
    phase: 'Ready',
    reason: 'Ready',
    message: `${f.profile.spec.profileType} profile ready with ${rules} CEL rule${rules === 1 ? '' : 's'}`,
    authorized: 'True',
    policyAllowed: 'True',
    decisions,
    ...requeue,
  };
}
