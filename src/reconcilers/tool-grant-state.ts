// The ToolGrantRecord state machine, pure. The reconciler gathers facts (from caches, the
// access reviewer and the policy engine) and asks decideGrant what they mean; when a fact is
// still missing the answer says which one to fetch next, so an already-decided grant costs no
// access reviews.
//
//   revoked ─────────────────────────────────────────────► Revoked (terminal)
//   authority expired, grant was Active ─────────────────► Expired
//   authority expired before it ever was ────────────────► Denied (AuthorityExpired)
//   profile missing / not yet reconciled ────────────────► Pending (waiting; re-evaluated)
//   profile Invalid ─────────────────────────────────────► Denied (re-evaluated)
//   profile being deleted, grant not Active yet ─────────► Pending (ProfileDeleting)
//   admission policy missing ────────────────────────────► Pending (AuthorityUnverifiable)
//   authority / RBAC / policy denies ────────────────────► Denied (re-evaluated)
//   everything allows ───────────────────────────────────► Active until expiresAt
import type { ToolGrantRecord } from '../api/types.generated.ts';
import { parseExpiry } from '../governance/authority.ts';
import { firstDenial, policyDenialReason, type Decision } from '../governance/decision.ts';
import type { PolicyResult } from '../governance/policy.ts';
import type { AuthorizationOutcome } from './authorization.ts';
import type { ProfileFact, Tri } from './facts.ts';

export type GrantState = NonNullable<NonNullable<ToolGrantRecord['status']>['state']>;

export interface GrantFacts {
  grant: ToolGrantRecord;
  now: Date;
  /** status.state before this reconcile: expiry ends an Active grant, but denies a new one. */
  previousState?: GrantState;
  profile: ProfileFact;
  authorization?: AuthorizationOutcome;
  policy?: PolicyResult;
}

export type GrantDecision =
  | { need: 'authorization' | 'policy' }
  | {
      need?: undefined;
      state: GrantState;
      reason: string;
      message: string;
      authorized: Tri;
      policyAllowed: Tri;
      decisions: Decision[];
      /** When the grant must be looked at again even without events (its expiry). */
      requeueAfterMs?: number;
      /** Pending for something that will come (its profile): audited as queued, a Normal event. */
      waiting?: boolean;
    };

export function decideGrant(f: GrantFacts): GrantDecision {
  const spec = f.grant.spec;
  if (spec.revoked) {
    return final('Revoked', 'Revoked', `revoked: ${spec.revocationReason ?? 'no reason given'}`, 'Unknown', 'Unknown');
  }
  const expiry = parseExpiry(spec.authority.expiresAt);
  if (expiry && expiry.getTime() <= f.now.getTime()) {
    const wasInService = f.previousState === 'Active' || f.previousState === 'Expired';
    return final(wasInService ? 'Expired' : 'Denied', 'AuthorityExpired', `delegation from ${spec.authority.delegator} expired at ${spec.authority.expiresAt}`, 'False', 'Unknown');
  }
  if (!f.profile.settled) {
    return { ...final('Pending', f.profile.found ? 'ProfileNotReady' : 'ProfileNotFound', `waiting: ${f.profile.message}`, 'Unknown', 'Unknown'), waiting: true };
  }
  if (!f.profile.ready) return final('Denied', 'ProfileNotReady', f.profile.message, 'Unknown', 'Unknown');
  // An Active grant keeps (and holds) a profile being deleted; a new one waits for it to go.
  if (f.profile.deleting && f.previousState !== 'Active') return { ...final('Pending', 'ProfileDeleting', `waiting: ${f.profile.message}`, 'Unknown', 'Unknown'), waiting: true };
  if (!f.authorization) return { need: 'authorization' };
  const auth = f.authorization;
  if (!auth.allowed) {
    const state: GrantState = auth.reason === 'AuthorityUnverifiable' ? 'Pending' : 'Denied';
    return final(state, auth.reason, auth.message, 'False', 'Unknown', auth.decisions);
  }
  if (!f.policy) return { need: 'policy' };
  const decisions = [...auth.decisions, ...f.policy.decisions];
  if (!f.policy.allowed) {
    const denied = firstDenial(f.policy.decisions);
    return final('Denied', policyDenialReason(decisions), denied?.message ?? 'policy denied the grant', 'True', 'False', decisions);
  }
  const remainingMs = expiry ? expiry.getTime() - f.now.getTime() : undefined;
  return {
    ...final('Active', 'Active', `${spec.tool} granted to ${spec.authority.delegate}`, 'True', 'True', decisions),
    ...(remainingMs !== undefined ? { requeueAfterMs: remainingMs } : {}),
  };
}

function final(state: GrantState, reason: string, message: string, authorized: Tri, policyAllowed: Tri, decisions: Decision[] = []): Extract<GrantDecision, { state: GrantState }> {
  return { state, reason, message, authorized, policyAllowed, decisions };
}
