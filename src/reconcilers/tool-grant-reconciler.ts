// ToolGrantRecord (agent_machine.tool_grant.apply / .revoke): Active only after the delegation,
// the delegator's RBAC (use the profile, grant the tool) and the profile's toolGrant policy
// pass. Revocation (spec.revoked or deletion) and expiry take it out of service; a finalizer
// keeps a deleted grant until its revocation is audited.
import type { ToolGrantRecord, ToolGrantRecordStatus } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { nextOperation, type OperationEventType, type OperationState } from '../api/operation.ts';
import { Controller } from '../operator/controller.ts';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../operator/finalizers.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { permissions } from '../governance/access-review.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { toolGrantRequest } from '../governance/requests.ts';
import { firstDenial } from '../governance/decision.ts';
import type { AuditOutcome } from '../governance/audit-log.ts';
import type { ReconcilerDeps } from './deps.ts';
import { decideGrant, type GrantFacts, type GrantState } from './tool-grant-state.ts';
import { profileFact } from './facts.ts';
import { BY_PROFILE, indexed } from './indexes.ts';
import { boundedDecisions, gateConditions, requeueAfter } from './status-parts.ts';
import { getCondition } from '../operator/conditions.ts';

const APPLY = 'agent_machine.tool_grant.apply';
const REVOKE = 'agent_machine.tool_grant.revoke';

// How each state reads as a command outcome, an operation state and an operation event.
const PROJECTION: Record<GrantState, { outcome: AuditOutcome; state: OperationState; event: OperationEventType; warning: boolean }> = {
  Pending: { outcome: 'denied', state: 'queued', event: 'progress', warning: true },
  Active: { outcome: 'allowed', state: 'completed', event: 'complete', warning: false },
  Denied: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
  Revoked: { outcome: 'revoked', state: 'completed', event: 'complete', warning: false },
  Expired: { outcome: 'expired', state: 'cancelled', event: 'cancel', warning: false },
};

// RBAC changes produce no event here; denied and unverifiable grants are looked at again.
const RECHECK_DENIED_MS = 30_000;
const RECHECK_PENDING_MS = 10_000;

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
      let grant = grants.get(key);
      if (!grant) return;
      if (isBeingDeleted(grant)) return finalizeDeletion(deps, grant);
      if (!hasFinalizer(grant)) {
        const r = await ensureFinalizer(deps.clients, RESOURCES.ToolGrantRecord, grant);
        if (r.outcome === 'gone') return;
        grant = r.object;
      }

      const now = deps.clock();
      const profile = profiles.get(grant.spec.profileRef.name);
      const facts: GrantFacts = { grant, now, previousState: grant.status?.state, profile: profileFact(profile, grant.spec.profileRef.name) };
      let d = decideGrant(facts);
      if (d.need === 'authorization') {
        facts.authorization = await deps.authorizer.authorize({
          authority: grant.spec.authority,
          operationType: APPLY,
          toolRefs: [grant.spec.tool],
          permissions: [permissions.useProfile(grant.spec.profileRef.name), permissions.grantTool(grant.spec.tool, grant.metadata.namespace)],
          now,
        });
        d = decideGrant(facts);
      }
      if (d.need === 'policy') {
        facts.policy = evaluatePolicy(profile, toolGrantRequest(grant.spec));
        d = decideGrant(facts);
      }
      if (d.need) throw new Error(`grant decision still needs ${d.need}`);

      const prev = grant.status;
      const p = PROJECTION[d.state];
      const operationType = d.state === 'Revoked' ? REVOKE : APPLY;
      if (prev?.state !== d.state || getCondition(grant.status?.conditions, 'Ready')?.reason !== d.reason) {
        await deps.recorder.record(grant, {
          operationType,
          outcome: p.outcome,
          reason: d.state === 'Active' ? 'Activated' : d.reason,
          message: d.message,
          warning: p.warning,
          actor: grant.spec.authority.delegator,
          delegate: grant.spec.authority.delegate,
          decisions: d.decisions,
        });
        const denied = d.state === 'Denied' ? firstDenial(d.decisions) : undefined;
        if (denied) deps.metrics.policyDenials.inc({ gate: denied.gate });
      }

      const status: ToolGrantRecordStatus = {
        state: d.state,
        expiresAt: grant.spec.authority.expiresAt,
        ...(d.state === 'Active' ? { activatedAt: prev?.state === 'Active' && prev.activatedAt ? prev.activatedAt : metaTime(now) } : {}),
        ...(d.state === 'Revoked' ? { revokedAt: prev?.revokedAt ?? metaTime(now) } : {}),
        conditions: gateConditions(prev?.conditions, grant.metadata.generation, now, {
          authorized: d.authorized,
          authorizedReason: d.reason,
          policyAllowed: d.policyAllowed,
          ready: d.state === 'Active',
          reason: d.reason,
          message: d.message,
          phase: d.state,
        }),
        decisions: boundedDecisions(d.decisions),
        operation: nextOperation(prev?.operation, grant.metadata.uid!, { operationType, state: p.state, event: { eventType: p.event, details: d.message } }, now),
      };
      await deps.status.write(RESOURCES.ToolGrantRecord, grant, status as Record<string, unknown>);
      countStates();
      if (d.state === 'Active') return requeueAfter(d.requeueAfterMs);
      if (d.state === 'Denied') return requeueAfter(RECHECK_DENIED_MS);
      if (d.state === 'Pending') return requeueAfter(RECHECK_PENDING_MS);
      return undefined;
    },
  });
}

/** A deleted grant is a revocation: audit it, then let it go. */
async function finalizeDeletion(deps: ReconcilerDeps, grant: ToolGrantRecord): Promise<void> {
  if (!hasFinalizer(grant)) return;
  if (grant.status?.state !== 'Revoked') {
    await deps.recorder.record(grant, {
      operationType: REVOKE,
      outcome: 'revoked',
      reason: 'Revoked',
      message: `grant deleted: ${grant.spec.tool} revoked from ${grant.spec.authority.delegate}`,
      actor: grant.spec.authority.delegator,
      delegate: grant.spec.authority.delegate,
    });
  }
  await removeFinalizer(deps.clients, RESOURCES.ToolGrantRecord, grant);
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
