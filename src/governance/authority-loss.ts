// Authority lost while an execution runs: its delegation expired, a tool grant it was admitted
// with was revoked, expired or deleted, its model provider binding was deleted (its delegator's
// RBAC is asked separately, through the access reviewer). Pure over what the informer caches
// hold, so the gateway and the execution reconciler read the same loss the same way.
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { expiryMs, parseExpiry } from './authority.ts';

export type OnAuthorityLost = NonNullable<AgentMachineProfile['spec']['onAuthorityLost']>;

/** The profile's choice, or its type's default: firewall profiles cancel, the others only refuse calls. */
export function onAuthorityLost(profile: Pick<AgentMachineProfile['spec'], 'profileType' | 'onAuthorityLost'>): OnAuthorityLost {
  if (profile.onAuthorityLost) return profile.onAuthorityLost;
  return profile.profileType === 'corporate_firewall' || profile.profileType === 'multi_corporate_firewall' ? 'cancel' : 'deny-calls';
}

/** May this grant serve a call now (Active, not revoked, not expired, not being deleted)? */
export function grantInService(grant: ToolGrantRecord, now: Date): boolean {
  if (grant.spec.revoked || grant.status?.state !== 'Active' || isBeingDeleted(grant)) return false;
  const expiry = expiryMs(grant.spec.authority?.expiresAt);
  return expiry !== undefined && expiry > now.getTime();
}

/** Is this grant the execution's delegator's authority for its tenant (whether or not in service)? */
export function grantServesExecution(grant: ToolGrantRecord, ex: LocalAgentExecution): boolean {
  return (
    grant.metadata.namespace === ex.metadata.namespace &&
    grant.spec.authority?.delegate === ex.spec.authority.delegate &&
    grant.spec.authority?.delegator === ex.spec.authority.delegator &&
    grant.spec.tenant === ex.spec.tenant
  );
}

/** Why none of these grants serves any more: revoked, expired or deleted, for the message. */
export function whyGrantLost(grants: readonly ToolGrantRecord[], now: Date): string {
  if (grants.length === 0) return 'deleted';
  const why = (g: ToolGrantRecord): string => {
    if (g.spec.revoked) return 'revoked';
    if (isBeingDeleted(g)) return 'deleted';
    const expiry = parseExpiry(g.spec.authority?.expiresAt);
    if (!expiry || expiry.getTime() <= now.getTime()) return `expired at ${g.spec.authority?.expiresAt}`;
    return g.status?.state ?? 'not Active';
  };
  return grants.map((g) => `${g.metadata.name} ${why(g)}`).join(', ');
}

export interface AuthorityLoss {
  /** What was lost: delegation, grant or binding (RBAC comes from the access review). */
  lost: 'delegation' | 'grant' | 'binding' | 'rbac';
  message: string;
}

/**
 * The first authority this running execution has lost, if any. `grantsFor(tool)` returns the
 * grants of that tool in the execution's namespace (an informer index).
 */
export function authorityLoss(ex: LocalAgentExecution, now: Date, grantsFor: (tool: string) => readonly ToolGrantRecord[], binding: ModelProviderBinding | undefined): AuthorityLoss | undefined {
  const expiry = parseExpiry(ex.spec.authority?.expiresAt);
  if (!expiry || expiry.getTime() <= now.getTime()) return { lost: 'delegation', message: `the delegation from ${ex.spec.authority?.delegator} expired at ${ex.spec.authority?.expiresAt}` };
  const delegate = ex.spec.authority.delegate;
  for (const tool of ex.spec.tools ?? []) {
    const mine = grantsFor(tool).filter((g) => grantServesExecution(g, ex));
    if (!mine.some((g) => grantInService(g, now))) return { lost: 'grant', message: `the ToolGrantRecord granting ${tool} to ${delegate} was lost: ${whyGrantLost(mine, now)}` };
  }
  const ref = ex.spec.modelProviderRef;
  if (ref && (!binding || isBeingDeleted(binding))) return { lost: 'binding', message: `ModelProviderBinding ${ref.name} was deleted` };
  return undefined;
}
