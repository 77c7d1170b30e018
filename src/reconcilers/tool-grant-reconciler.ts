// ToolGrantRecord (agent_machine.tool_grant.apply / .revoke): Active only after the delegation,
// the delegator's RBAC (use the profile, grant the tool, get a connector's credential Secret) and the profile's toolGrant policy
// pass. Revocation (spec.revoked or deletion) and expiry take it out of service; a finalizer
// keeps a deleted grant until its revocation is audited.
import type { ToolGrantRecord } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller } from '../operator/controller.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { permissions } from '../governance/access-review.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { toolGrantRequest } from '../governance/requests.ts';
import type { ReconcilerDeps } from './deps.ts';
import type { Permission } from './authorization.ts';
import { decideGrant, type GrantFacts, type GrantState } from './tool-grant-state.ts';
import { profileFact, profileNames } from './facts.ts';
import { BY_PROFILE, indexed } from './indexes.ts';
import type { GovernedKind } from './core/governed-kind.ts';
import { finalizeIfDeleted, withFinalizer } from './core/finalizer.ts';
import { walkGates } from './core/gate-walk.ts';
import { settle } from './core/settle.ts';

const APPLY = 'agent_machine.tool_grant.apply';
const REVOKE = 'agent_machine.tool_grant.revoke';

const KIND: GovernedKind<ToolGrantRecord, GrantState> = {
  resource: RESOURCES.ToolGrantRecord,
  phaseOf: (g) => g.status?.state,
  projection: {
    Pending: { outcome: 'denied', state: 'queued', event: 'progress', warning: true },
    Active: { outcome: 'allowed', state: 'completed', event: 'complete', warning: false },
    Denied: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
    Revoked: { outcome: 'revoked', state: 'completed', event: 'complete', warning: false },
    Expired: { outcome: 'expired', state: 'cancelled', event: 'cancel', warning: false },
  },
  readyPhase: 'Active',
  eventReason: { Active: 'Activated' },
  auditOn: 'phase-or-reason',
  countsDenial: (state) => state === 'Denied',
};

// RBAC changes produce no event here; denied and unverifiable grants are looked at again.
const RECHECK_MS: Partial<Record<GrantState, number>> = { Denied: 30_000, Pending: 10_000 };

export function toolGrantController(deps: ReconcilerDeps): Controller {
  const { grants, profiles } = deps.informers;
  const grantsUnder = indexed(grants, BY_PROFILE);
  const countStates = throttle(() => {
    const counts: Record<string, number> = { Pending: 0, Active: 0, Denied: 0, Revoked: 0, Expired: 0 };
    for (const g of grants.list()) counts[g.status?.state ?? 'Pending'] = (counts[g.status?.state ?? 'Pending'] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) deps.metrics.toolGrants.set({ state }, n);
  }, 1_000);

  return new Controller({
    kind: 'ToolGrantRecord',
    informer: grants,
    logger: deps.logger,
    metrics: deps.metrics,
    // A grant's reconcile mostly waits on the API server (finalizer, access reviews, status) and
    // the audit log's fsync, which commits whatever is pending at once. 10,000 new grants on a
    // 2-core machine: all Active in 155-198 s with 4 workers, 118-127 s with 16 (the API server
    // is then the busy process).
    concurrency: 16,
    // A profile change (deleted, turned Invalid, rules edited) re-decides its grants.
    watches: [{ informer: profiles, map: (p) => grantsUnder(p.metadata!.name!).map(objectKey) }],
    reconcile: async (key) => {
      countStates();
      const found = grants.get(key);
      if (!found || (await finalizeIfDeleted(deps, KIND.resource, found, (g) => auditDeletion(deps, g)))) return;
      const grant = await withFinalizer(deps, KIND.resource, found);
      if (!grant) return;

      const now = deps.clock();
      const profile = profiles.get(grant.spec.profileRef.name);
      const facts: GrantFacts = { grant, now, previousState: grant.status?.state, profile: profileFact(profile, grant.spec.profileRef.name, profileNames(deps)) };
      const d = await walkGates(facts, decideGrant, {
        authorization: async (f) => {
          f.authorization = await deps.authorizer.authorize({
            authority: grant.spec.authority,
            operationType: APPLY,
            toolRefs: [grant.spec.tool],
            permissions: grantPermissions(grant),
            tenancy: { namespace: grant.metadata.namespace!, tenant: grant.spec.tenant },
            now,
          });
        },
        policy: (f) => void (f.policy = evaluatePolicy(profile, toolGrantRequest(grant.spec), { sandbox: deps.celSandbox })),
      });

      const prev = grant.status;
      const { result } = await settle(deps, KIND, grant, {
        now,
        verdict: { ...d, phase: d.state, operationType: d.state === 'Revoked' ? REVOKE : APPLY, requeueAfterMs: d.state === 'Active' ? d.requeueAfterMs : RECHECK_MS[d.state] },
        fields: {
          state: d.state,
          expiresAt: grant.spec.authority.expiresAt,
          ...(d.state === 'Active' ? { activatedAt: prev?.state === 'Active' && prev.activatedAt ? prev.activatedAt : metaTime(now) } : {}),
          ...(d.state === 'Revoked' ? { revokedAt: prev?.revokedAt ?? metaTime(now) } : {}),
        },
      });
      countStates();
      return result;
    },
  });
}

/**
 * What the delegator's RBAC must allow for this grant: use the profile, grant the tool and, for
 * a connector with a credential, get that Secret (the gateway reads it on the delegator's
 * behalf, so a grant cannot launder a Secret its delegator may not read).
 */
export function grantPermissions(grant: ToolGrantRecord): Permission[] {
  const ns = grant.metadata.namespace!;
  const secret = grant.spec.connector?.credentialsSecretRef;
  return [permissions.useProfile(grant.spec.profileRef.name), permissions.grantTool(grant.spec.tool, ns), ...(secret ? [permissions.getSecret(secret.name, ns)] : [])];
}

/** A deleted grant is a revocation: audit it, then let it go. */
async function auditDeletion(deps: ReconcilerDeps, grant: ToolGrantRecord): Promise<void> {
  if (grant.status?.state === 'Revoked') return;
  await deps.recorder.record(grant, {
    operationType: REVOKE,
    outcome: 'revoked',
    reason: 'Revoked',
    message: `grant deleted: ${grant.spec.tool} revoked from ${grant.spec.authority.delegate}`,
    actor: grant.spec.authority.delegator,
    delegate: grant.spec.authority.delegate,
  });
}

/** Runs fn at most once per interval, trailing. */
function throttle(fn: () => void, intervalMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, intervalMs);
    timer.unref();
  };
}
