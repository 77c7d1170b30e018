// AgentMachineProfile (agent_machine.profile.create): verifies the delegation (incl. the
// delegator's RBAC to create profiles, which a broker's apply does not prove), checks that
// every CEL rule compiles, publishes the effective rules, and sets Ready. Everything that
// references a profile re-checks it, so an Invalid profile fails them closed.
import type { AgentMachineProfile } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller } from '../operator/controller.ts';
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
  return new Controller({
    kind: 'AgentMachineProfile',
    informer: profiles,
    logger: deps.logger,
    metrics: deps.metrics,
    reconcile: async (key) => {
      const profile = profiles.get(key);
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
