// AgentMachineProfile (agent_machine.profile.create): verifies the delegation (incl. the
// delegator's RBAC to create profiles, which a broker's apply does not prove), checks that
// every CEL rule compiles, publishes the effective rules, and sets Ready. Everything that
// references a profile re-checks it, so an Invalid profile fails them closed.
import type { AgentMachineProfile } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller } from '../operator/controller.ts';
import { getCondition, setCondition } from '../operator/conditions.ts';
import { hasFinalizer, isBeingDeleted, removeFinalizer } from '../operator/finalizers.ts';
import { objectKey } from '../operator/resource.ts';
import { deletionHeldMessage, profileHolders } from './profile-in-use.ts';
import { withFinalizer } from './core/finalizer.ts';
import { checkCelRules } from '../governance/cel-rules.ts';
import { describeProfileRules, effectiveNetworkMode } from '../governance/profile-rules.ts';
import type { ReconcilerDeps } from './deps.ts';
import { decideProfile, profilePermissions, type ProfilePhase } from './profile-state.ts';
import type { GovernedKind } from './core/governed-kind.ts';
import { settle } from './core/settle.ts';

const OPERATION = 'agent_machine.profile.create';
// A missing admission policy produces no event when it gets installed: look again soon.
const UNVERIFIABLE_RETRY_MS = 10_000;

const KIND: GovernedKind<AgentMachineProfile, ProfilePhase> = {
  resource: RESOURCES.AgentMachineProfile,
  phaseOf: (p) => p.status?.phase,
  projection: {
    Pending: { outcome: 'denied', state: 'queued', event: 'progress', warning: true },
    Ready: { outcome: 'allowed', state: 'completed', event: 'complete', warning: false },
    Invalid: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
  },
  readyPhase: 'Ready',
  eventReason: { Ready: 'ProfileReady' },
  auditOn: 'phase-or-reason',
  // A profile that cannot be verified yet (Pending) counts its denial too.
  countsDenial: () => true,
};

export function profileController(deps: ReconcilerDeps): Controller {
  const profiles = deps.informers.profiles;
  // What runs under a profile being deleted changed: look whether it still holds it.
  const deletingProfileOf = (o: { spec: { profileRef: { name: string } } }): string[] => {
    const p = profiles.get(o.spec.profileRef.name);
    return p && isBeingDeleted(p) ? [objectKey(p)] : [];
  };
  return new Controller({
    kind: 'AgentMachineProfile',
    informer: profiles,
    logger: deps.logger,
    metrics: deps.metrics,
    watches: [
      { informer: deps.informers.executions, map: (e) => deletingProfileOf(e as never) },
      { informer: deps.informers.grants, map: (g) => deletingProfileOf(g as never) },
    ],
    reconcile: async (key) => {
      const found = profiles.get(key);
      if (!found) return;
      if (isBeingDeleted(found)) return holdOrRelease(deps, found);
      const profile = await withFinalizer(deps, KIND.resource, found);
      if (!profile) return;
      const now = deps.clock();
      const authorization = await deps.authorizer.authorize({
        authority: profile.spec.authority,
        operationType: OPERATION,
        permissions: profilePermissions(),
        now,
      });
      const ruleChecks = authorization.allowed ? checkCelRules(profile) : [];
      const d = decideProfile({ profile, now, authorization, ruleChecks });
      const { result } = await settle(deps, KIND, profile, {
        now,
        verdict: { ...d, operationType: OPERATION, requeueAfterMs: d.phase === 'Pending' ? UNVERIFIABLE_RETRY_MS : d.requeueAfterMs },
        fields: { phase: d.phase, effective: { networkMode: effectiveNetworkMode(profile), rules: describeProfileRules(profile).slice(0, 128) } },
      });
      return result;
    },
  });
}

/**
 * A profile being deleted: held (finalizer kept, DeletionHeld=True naming what holds it, a
 * Warning Event when that changes) while an execution runs or a grant is Active under it;
 * released when nothing does (profile-in-use.ts).
 */
async function holdOrRelease(deps: ReconcilerDeps, profile: AgentMachineProfile): Promise<void> {
  if (!hasFinalizer(profile)) return;
  const name = profile.metadata.name!;
  const holders = profileHolders(name, deps.informers.executions.list(), deps.informers.grants.list());
  if (holders.length === 0) {
    deps.logger.info({ kind: 'AgentMachineProfile', name }, 'profile no longer in use: deletion proceeds');
    await removeFinalizer(deps.clients, KIND.resource, profile);
    return;
  }
  const message = deletionHeldMessage(holders);
  if (getCondition(profile.status?.conditions, 'DeletionHeld')?.message === message) return;
  deps.logger.warn({ kind: 'AgentMachineProfile', name, holders: holders.length }, `profile deletion held: ${message}`);
  deps.recorder.notice(profile, { warning: true, reason: 'DeletionHeld', action: 'agent_machine.profile.delete', message });
  const conditions = setCondition(profile.status?.conditions, { type: 'DeletionHeld', status: 'True', reason: 'InUse', message }, profile.metadata.generation, deps.clock());
  // The deletion bumped the generation; the spec it decided is the same.
  const generation = profile.metadata.generation;
  const observed = profile.status?.observedGeneration;
  const caughtUp = generation !== undefined && observed === generation - 1 ? { observedGeneration: generation } : {};
  await deps.status.write(KIND.resource, profile, { ...profile.status, ...caughtUp, conditions });
}
