import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMachineDiagnosticBundle } from '../../../src/api/types.generated.ts';
import { decideBundle, RECHECK_DENIED_MS, type BundleFacts } from '../../../src/reconcilers/diagnostic-bundle-state.ts';
import type { AuthorizationOutcome } from '../../../src/reconcilers/authorization.ts';
import { allow, deny } from '../../../src/governance/decision.ts';

function bundle(status?: AgentMachineDiagnosticBundle['status'], generation = 1): AgentMachineDiagnosticBundle {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineDiagnosticBundle',
    metadata: { name: 'b', namespace: 'ns', uid: 'u', generation },
    spec: { authority: { delegator: 'alice', delegate: 'agent:a', scopes: ['agent_machine.diagnostics.export_redacted'], expiresAt: '2030-01-01T00:00:00Z', purpose: 'p' } },
    ...(status ? { status } : {}),
  };
}
const authorized: AuthorizationOutcome = { allowed: true, reason: 'Authorized', message: 'ok', decisions: [allow('authority', 'rbac.export.agentmachinediagnosticbundles', 'ok')] };
const facts = (over: Partial<BundleFacts> = {}): BundleFacts => ({ bundle: bundle(), ...over });

test('asks for authorization first, then the export', () => {
  assert.deepEqual(decideBundle(facts()), { need: 'authorization' });
  assert.deepEqual(decideBundle(facts({ authorization: authorized })), { need: 'export' });
});

test('a denied delegation exports nothing: Denied, re-checked only when RBAC may change', () => {
  const denied: AuthorizationOutcome = { allowed: false, reason: 'PermissionDenied', message: 'user "bob" may not export', decisions: [deny('authority', 'rbac.export.agentmachinediagnosticbundles', 'no')] };
  const d = decideBundle(facts({ authorization: denied }));
  assert.ok(d.need === undefined && !d.done);
  assert.equal(d.need === undefined && !d.done && d.phase, 'Denied');
  assert.equal(d.need === undefined && !d.done && d.requeueAfterMs, RECHECK_DENIED_MS);
  const scope = decideBundle(facts({ authorization: { ...denied, reason: 'ScopeNotCovered' } }));
  assert.equal(scope.need === undefined && !scope.done && scope.requeueAfterMs, undefined);
  const unverifiable = decideBundle(facts({ authorization: { ...denied, reason: 'AuthorityUnverifiable' } }));
  assert.equal(unverifiable.need === undefined && !unverifiable.done && unverifiable.phase, 'Pending');
});

test('export outcomes: Ready with the figures, Failed closed', () => {
  const ok = decideBundle(facts({ authorization: authorized, export: { ok: true, digest: `sha256:${'a'.repeat(64)}`, sizeBytes: 10, configMaps: ['b-part-0'], report: { secretValue: 2 }, files: 5, flags: { credentialsIncluded: false, tokensIncluded: false, localSecretsIncluded: false, sensitivePromptsIncluded: false } } }));
  assert.equal(ok.need === undefined && !ok.done && ok.phase, 'Ready');
  assert.match(ok.need === undefined && !ok.done ? ok.message : '', /secretValue=2/);
  const leak = decideBundle(facts({ authorization: authorized, export: { ok: false, reason: 'LeakDetected', message: 'x', report: {} } }));
  assert.equal(leak.need === undefined && !leak.done && leak.phase, 'Failed');
  assert.equal(leak.need === undefined && !leak.done && leak.reason, 'LeakDetected');
});

test('a bundle is a snapshot: Ready or Failed for its generation is settled; a spec change exports again', () => {
  assert.deepEqual(decideBundle(facts({ bundle: bundle({ phase: 'Ready', observedGeneration: 1 }) })), { done: true });
  assert.deepEqual(decideBundle(facts({ bundle: bundle({ phase: 'Failed', observedGeneration: 1 }) })), { done: true });
  assert.deepEqual(decideBundle(facts({ bundle: bundle({ phase: 'Ready', observedGeneration: 1 }, 2) })), { need: 'authorization' });
  assert.deepEqual(decideBundle(facts({ bundle: bundle({ phase: 'Denied', observedGeneration: 1 }) })), { need: 'authorization' });
});
