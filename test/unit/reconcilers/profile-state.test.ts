import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMachineProfile } from '../../../src/api/types.generated.ts';
import { decideProfile, profilePermissions, RECHECK_DENIED_MS } from '../../../src/reconcilers/profile-state.ts';
import { allow, deny } from '../../../src/governance/decision.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const profile = {
  apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
  kind: 'AgentMachineProfile',
  metadata: { name: 'p', uid: 'u', generation: 2 },
  spec: {
    profileType: 'personal',
    authority: { delegator: 'alice', delegate: 'agent:a', scopes: ['agent_machine.profile.create'], expiresAt: '2026-06-02T00:00:00Z', purpose: 'p' },
    budgetCeilings: { modelCalls: 1, tokens: 1, connectorCalls: 1, cpuGpuComputeSeconds: 1, localDiskBytes: 1, sandboxMemoryBytes: 1, wallClockSeconds: 1, agentConcurrency: 1 },
  },
} as AgentMachineProfile;
const authorized = { allowed: true, reason: 'Authorized' as const, message: 'ok', decisions: [] };

test('Ready when authorized and every rule compiles; requeued at the delegation expiry', () => {
  const d = decideProfile({ profile, now: NOW, authorization: authorized, ruleChecks: [allow('policy', 'cel.a', 'compiles')] });
  assert.deepEqual([d.phase, d.reason, d.policyAllowed], ['Ready', 'Ready', 'True']);
  assert.equal(d.requeueAfterMs, 24 * 60 * 60 * 1000);
  assert.match(d.message, /1 CEL rule\b/);
});

test('an uncompilable rule makes the profile Invalid, naming the rule', () => {
  const d = decideProfile({ profile, now: NOW, authorization: authorized, ruleChecks: [deny('policy', 'cel.bad', 'rule bad does not compile: unexpected token')] });
  assert.deepEqual([d.phase, d.reason, d.policyAllowed], ['Invalid', 'InvalidRule', 'False']);
  assert.match(d.message, /rule bad/);
});

test('no verifiable authority: Pending; a failed authority: Invalid', () => {
  const pending = decideProfile({ profile, now: NOW, authorization: { allowed: false, reason: 'AuthorityUnverifiable', message: 'm', decisions: [] }, ruleChecks: [] });
  const invalid = decideProfile({ profile, now: NOW, authorization: { allowed: false, reason: 'AuthorityExpired', message: 'expired', decisions: [] }, ruleChecks: [] });
  assert.equal(pending.phase, 'Pending');
  assert.deepEqual([invalid.phase, invalid.reason, invalid.authorized], ['Invalid', 'AuthorityExpired', 'False']);
});

test('the delegator must be allowed to create profiles: a broker applying a profile proves nothing about them', () => {
  assert.deepEqual(profilePermissions(), [{ verb: 'create', group: 'agentmachine.sourceos.dev', resource: 'agentmachineprofiles' }]);
  const denied = decideProfile({
    profile,
    now: NOW,
    authorization: { allowed: false, reason: 'PermissionDenied', message: 'user "mallory" may not create agentmachineprofiles', decisions: [deny('authority', 'rbac.create.agentmachineprofiles', 'no')] },
    ruleChecks: [],
  });
  assert.deepEqual([denied.phase, denied.reason, denied.authorized], ['Invalid', 'PermissionDenied', 'False']);
  // RBAC changes produce no event: looked at again.
  assert.equal(denied.requeueAfterMs, RECHECK_DENIED_MS);
});
