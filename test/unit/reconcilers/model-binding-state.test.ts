import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedModels, decideBinding, probeDue, type BindingFacts } from '../../../src/reconcilers/model-binding-state.ts';
import type { AuthorizationOutcome } from '../../../src/reconcilers/authorization.ts';
import { allow, deny } from '../../../src/governance/decision.ts';
import { evaluatePolicy } from '../../../src/governance/policy.ts';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { modelProviderUseRequest } from '../../../src/governance/requests.ts';
import { NOW, binding, profile } from '../gateway/fixtures.ts';

// The CEL worker this file's evaluations run on: the test file owns it.
const sandbox = new CelSandbox();
after(() => sandbox.close());

const ready = { found: true, ready: true, settled: true, message: 'profile local is Ready' };
const authorized: AuthorizationOutcome = { allowed: true, reason: 'Authorized', message: 'ok', decisions: [allow('authority', 'rbac.bind.modelproviderbindings', 'ok')] };
const allows = { allowed: true, decisions: [allow('modelProviderUse', 'builtin.model.endpoint-url', 'ok')] };
const served = { reachable: true, reason: 'Reachable', message: '2 models', models: ['other', 'test-model'], modelAvailable: true };

const fresh = () => binding({}, null);
const facts = (over: Partial<BindingFacts> = {}): BindingFacts => ({ binding: fresh(), now: NOW, profile: ready, ...over });

test('asks for authorization, policy, the credential (only when named), then a probe; Ready with servedModels', () => {
  assert.deepEqual(decideBinding(facts()), { need: 'authorization' });
  assert.deepEqual(decideBinding(facts({ authorization: authorized })), { need: 'policy' });
  assert.deepEqual(decideBinding(facts({ authorization: authorized, policy: allows })), { need: 'probe' });
  const withSecret = binding({ credentialsSecretRef: { name: 'key', key: 'apiKey' } }, null);
  assert.deepEqual(decideBinding(facts({ binding: withSecret, authorization: authorized, policy: allows })), { need: 'credential' });
  const d = decideBinding(facts({ authorization: authorized, policy: allows, probe: served }));
  assert.ok(d.need === undefined);
  assert.equal(d.phase, 'Ready');
  assert.deepEqual([d.probe.endpointReachable, d.probe.modelAvailable], ['True', 'True']);
  assert.deepEqual(d.probe.servedModels, ['test-model', 'other'], 'the bound model first');
  assert.equal(d.requeueAfterMs, 60_000);
});

test('denials: profile, authority (Pending when unverifiable), policy; no probe is asked for', () => {
  const noProfile = decideBinding(facts({ profile: { found: false, ready: false, settled: false, message: 'gone' } }));
  assert.ok(noProfile.need === undefined && noProfile.phase === 'Pending' && noProfile.reason === 'ProfileNotFound' && noProfile.waiting, 'waits for its profile');
  const invalid = decideBinding(facts({ profile: { found: true, ready: false, settled: true, message: 'profile local is not Ready (Invalid)' } }));
  assert.ok(invalid.need === undefined && invalid.phase === 'Denied' && invalid.reason === 'ProfileNotReady' && !invalid.waiting);
  const unverifiable = decideBinding(facts({ authorization: { allowed: false, reason: 'AuthorityUnverifiable', message: 'no policy', decisions: [] } }));
  assert.ok(unverifiable.need === undefined && unverifiable.phase === 'Pending');
  const rbac = decideBinding(facts({ authorization: { allowed: false, reason: 'PermissionDenied', message: 'may not bind', decisions: [deny('authority', 'rbac.bind.modelproviderbindings', 'may not bind')] } }));
  assert.ok(rbac.need === undefined && rbac.phase === 'Denied' && rbac.authorized === 'False');
  // airgapped profile + hosted endpoint: the real built-in rule denies.
  const hosted = binding({ endpoint: 'https://api.openai.com/v1', credentialsSecretRef: { name: 'k', key: 'v' } }, null);
  const policy = evaluatePolicy(profile({ profileType: 'airgapped_local_only' }), modelProviderUseRequest(hosted.spec), { sandbox });
  const d = decideBinding(facts({ binding: hosted, authorization: authorized, policy }));
  assert.ok(d.need === undefined);
  assert.equal(d.phase, 'Denied');
  assert.equal(d.policyAllowed, 'False');
  assert.match(d.message, /loopback or cluster-local/);
  assert.equal(d.probe.endpointReachable, 'Unknown');
});

test('unreachable, credential refused, missing Secret, model not served', () => {
  const base = { authorization: authorized, policy: allows };
  const down = decideBinding(facts({ ...base, probe: { reachable: false, reason: 'ConnectionFailed', message: 'ECONNREFUSED', models: [], modelAvailable: false } }));
  assert.ok(down.need === undefined && down.phase === 'Unreachable' && down.reason === 'ConnectionFailed' && down.probe.endpointReachable === 'False');
  assert.equal(down.requeueAfterMs, 15_000);
  const refused = decideBinding(facts({ ...base, probe: { reachable: false, reason: 'CredentialRejected', message: 'HTTP 401', models: [], modelAvailable: false } }));
  assert.ok(refused.need === undefined && refused.phase === 'Unreachable' && refused.reason === 'CredentialRejected');
  const withSecret = binding({ credentialsSecretRef: { name: 'key', key: 'apiKey' } }, null);
  const missing = decideBinding(facts({ ...base, binding: withSecret, credential: { found: false, message: 'secret key not found' } }));
  assert.ok(missing.need === undefined && missing.phase === 'Pending' && missing.reason === 'SecretNotFound');
  const notServed = decideBinding(facts({ ...base, probe: { ...served, models: ['other'], modelAvailable: false } }));
  assert.ok(notServed.need === undefined && notServed.phase === 'Pending' && notServed.reason === 'ModelNotAvailable' && notServed.probe.modelAvailable === 'False');
});

test('a recent probe stands: no new probe until the interval has passed or the spec changed', () => {
  const probed = binding({}, {
    lastProbeTime: '2026-05-31T23:59:30Z',
    servedModels: ['test-model'],
    conditions: [
      { type: 'EndpointReachable', status: 'True', reason: 'Reachable', message: 'ok', lastTransitionTime: '2026-05-31T23:59:30Z' },
      { type: 'ModelAvailable', status: 'True', reason: 'ModelServed', message: 'ok', lastTransitionTime: '2026-05-31T23:59:30Z' },
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-05-31T23:59:30Z' },
    ],
  });
  assert.equal(probeDue(probed, NOW), false);
  const d = decideBinding(facts({ binding: probed, authorization: authorized, policy: allows }));
  assert.ok(d.need === undefined && d.phase === 'Ready');
  assert.equal(d.probe.probedAt, undefined, 'reused, not probed');
  assert.equal(d.requeueAfterMs, 30_000, 'the next probe is due 60 s after the last');
  assert.equal(probeDue(probed, new Date(NOW.getTime() + 30_000)), true);
  const changed = structuredClone(probed);
  changed.metadata.generation = 2;
  assert.equal(probeDue(changed, NOW), true, 'a spec change probes again');
  const unhealthy = structuredClone(probed);
  unhealthy.status!.conditions![0]!.status = 'False';
  unhealthy.status!.lastProbeTime = '2026-05-31T23:59:55Z';
  assert.equal(probeDue(unhealthy, NOW), false, 'retry interval 15 s not yet over');
  assert.equal(probeDue(unhealthy, new Date(NOW.getTime() + 10_000)), true, 'an unhealthy binding is probed again after 15 s');
});

test('an expiring delegation caps the requeue at its expiry', () => {
  const soon = binding({ authority: { ...binding().spec.authority, expiresAt: '2026-06-01T00:00:05Z' } }, null);
  const d = decideBinding(facts({ binding: soon, authorization: authorized, policy: allows, probe: served }));
  assert.ok(d.need === undefined && d.requeueAfterMs === 5_000);
});

test('servedModels fits the CRD: 64 names, none longer than 256', () => {
  const many = Array.from({ length: 100 }, (_, i) => `m${String(i).padStart(3, '0')}`);
  const out = boundedModels([...many, 'x'.repeat(300), 'm099'], 'm099');
  assert.equal(out.length, 64);
  assert.equal(out[0], 'm099');
  assert.ok(out.every((m) => m.length <= 256));
});

test('a profile being deleted: a binding in service keeps going, a new one waits Pending (ProfileDeleting)', () => {
  const deleting = { ...ready, deleting: true, message: 'profile local is being deleted: nothing new is admitted under it' };
  const waiting = decideBinding(facts({ profile: deleting }));
  assert.equal(waiting.need, undefined);
  if (waiting.need === undefined) assert.deepEqual([waiting.phase, waiting.reason, waiting.waiting], ['Pending', 'ProfileDeleting', true]);
  assert.deepEqual(decideBinding(facts({ profile: deleting, binding: binding({}, { phase: 'Ready' }) })), { need: 'authorization' }, 'in service: decided as before');
});
