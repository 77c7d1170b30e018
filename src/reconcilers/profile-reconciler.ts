// AgentMachineProfile (agent_machine.profile.create): verifies the delegation (incl. the
// delegator's RBAC to create profiles, which a broker's apply does not prove), checks that
// every CEL rule compiles, publishes the effective rules, and sets Ready. Everything that
// references a profile re-checks it, so an Invalid profile fails them closed.
import type { AgentMachineProfile, AgentMachineProfileStatus } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { nextOperation, type OperationState } from '../api/operation.ts';
import { Controller } from '../operator/controller.ts';
import { checkCelRules } from '../governance/cel-rules.ts';
import { describeProfileRules, effectiveNetworkMode } from '../governance/profile-rules.ts';
import { firstDenial } from '../governance/decision.ts';
import type { ReconcilerDeps } from './deps.ts';
import { decideProfile, profilePermissions, type ProfilePhase } from './profile-state.ts';
import { boundedDecisions, gateConditions, requeueAfter } from './core/status-parts.ts';
import { getCondition } from '../operator/conditions.ts';

const OPERATION = 'agent_machine.profile.create';
const STATE_BY_PHASE: Record<ProfilePhase, OperationState> = { Pending: 'queued', Ready: 'completed', Invalid: 'failed' };
// A missing admission policy produces no event when it gets installed: look again soon.
const UNVERIFIABLE_RETRY_MS = 10_000;

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

      const prev = profile.status;
      if (prev?.phase !== d.phase || getCondition(profile.status?.conditions, 'Ready')?.reason !== d.reason) {
        const ready = d.phase === 'Ready';
        await deps.recorder.record(profile, {
          operationType: OPERATION,
          outcome: ready ? 'allowed' : 'denied',
          reason: ready ? 'ProfileReady' : d.reason,
          message: d.message,
          warning: !ready,
          actor: profile.spec.authority.delegator,
          delegate: profile.spec.authority.delegate,
          decisions: d.decisions,
        });
        const denied = firstDenial(d.decisions);
        if (denied) deps.metrics.policyDenials.inc({ gate: denied.gate });
      }

      const status: AgentMachineProfileStatus = {
        phase: d.phase,
        effective: { networkMode: effectiveNetworkMode(profile), rules: describeProfileRules(profile).slice(0, 128) },
        conditions: gateConditions(prev?.conditions, profile.metadata.generation, now, {
          authorized: d.authorized,
          authorizedReason: d.reason,
          policyAllowed: d.policyAllowed,
          ready: d.phase === 'Ready',
          reason: d.reason,
          message: d.message,
          phase: d.phase,
        }),
        decisions: boundedDecisions(d.decisions),
        operation: nextOperation(prev?.operation, profile.metadata.uid!, {
          operationType: OPERATION,
          state: STATE_BY_PHASE[d.phase],
          event: { eventType: d.phase === 'Ready' ? 'complete' : d.phase === 'Invalid' ? 'failure' : 'progress', details: d.message },
        }, now),
      };
      await deps.status.write(RESOURCES.AgentMachineProfile, profile, status as Record<string, unknown>);
      return requeueAfter(d.phase === 'Pending' ? UNVERIFIABLE_RETRY_MS : d.requeueAfterMs);
    },
  });
}

