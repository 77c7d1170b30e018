import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ToolGrantRecord } from '../../../src/api/types.generated.ts';
import { decideGrant, type GrantFacts } from '../../../src/reconcilers/tool-grant-state.ts';
import type { AuthorizationOutcome } from '../../../src/reconcilers/authorization.ts';
import { allow, deny } from '../../../src/governance/decision.ts';

const NOW = new Date('2026-06-01T00:00:00Z');

function grant(spec: Partial<ToolGrantRecord['spec']> = {}): ToolGrantRecord {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name: 'g', namespace: 'ns', uid: 'u1', generation: 1 },
    spec: {
      profileRef: { name: 'personal' },
      tool: 'mcp.github',
      authority: { delegator: 'alice', delegate: 'agent:a', scopes: ['agent_machine.tool_grant.apply', 'tool:mcp.github'], expiresAt: '2026-06-01T01:00:00Z', purpose: 'p' },
      ...spec,
    },
  };
}

const readyProfile = { found: true, ready: true, settled: true, message: 'profile personal is Ready' };
const authorized: AuthorizationOutcome = { allowed: true, reason: 'Authorized', message: 'ok', decisions: [allow('authority', 'rbac.grant.tools', 'ok')] };
const policyAllows = { allowed: true, decisions: [allow('toolGrant', 'builtin.tool.name', 'ok')] };

function facts(over: Partial<GrantFacts> = {}): GrantFacts {
  return { grant: grant(), now: NOW, profile: readyProfile, ...over };
}

test('revoked wins over everything, even an expired delegation', () => {
  const d = decideGrant(facts({ grant: grant({ revoked: true, revocationReason: 'leaked', authority: { ...grant().spec.authority, expiresAt: '2020-01-01T00:00:00Z' } }) }));
  assert.equal(d.need, undefined);
  assert.equal(d.need === undefined && d.state, 'Revoked');
  assert.match(d.need === undefined ? d.message : '', /leaked/);
});

test('an expired delegation ends an Active grant (Expired) but denies one that never was Active', () => {
  const expired = grant({ authority: { ...grant().spec.authority, expiresAt: '2026-05-31T23:59:59Z' } });
  const ended = decideGrant(facts({ grant: expired, previousState: 'Active' }));
  const refused = decideGrant(facts({ grant: expired, previousState: undefined }));
  assert.ok(ended.need === undefined && refused.need === undefined);
  assert.equal(ended.state, 'Expired');
  assert.equal(refused.state, 'Denied');
  assert.equal(refused.reason, 'AuthorityExpired');
});

test('a missing or not yet reconciled profile holds the grant (waiting), an Invalid one denies; both before any access review', () => {
  const missing = decideGrant(facts({ profile: { found: false, ready: false, settled: false, message: 'profile personal not found' } }));
  const unreconciled = decideGrant(facts({ profile: { found: true, ready: false, settled: false, message: 'profile personal is not Ready (not yet reconciled)' } }));
  const invalid = decideGrant(facts({ profile: { found: true, ready: false, settled: true, message: 'profile personal is not Ready (Invalid)' } }));
  assert.ok(missing.need === undefined && unreconciled.need === undefined && invalid.need === undefined);
  assert.deepEqual([missing.state, missing.reason, missing.waiting], ['Pending', 'ProfileNotFound', true]);
  assert.match(missing.message, /^waiting: profile personal not found/);
  assert.deepEqual([unreconciled.state, unreconciled.reason, unreconciled.waiting], ['Pending', 'ProfileNotReady', true]);
  assert.deepEqual([invalid.state, invalid.reason, invalid.waiting], ['Denied', 'ProfileNotReady', undefined]);
});

test('asks for authorization, then policy, then decides Active with a requeue at expiry', () => {
  assert.deepEqual(decideGrant(facts()), { need: 'authorization' });
  assert.deepEqual(decideGrant(facts({ authorization: authorized })), { need: 'policy' });
  const d = decideGrant(facts({ authorization: authorized, policy: policyAllows }));
  assert.ok(d.need === undefined);
  assert.equal(d.state, 'Active');
  assert.equal(d.requeueAfterMs, 60 * 60 * 1000);
  assert.equal(d.decisions.length, 2);
});

test('an unverifiable authority leaves the grant Pending; an RBAC denial makes it Denied with the message', () => {
  const pending = decideGrant(facts({ authorization: { allowed: false, reason: 'AuthorityUnverifiable', message: 'policy missing', decisions: [deny('authority', 'authority.admission-policy', 'policy missing')] } }));
  const denied = decideGrant(facts({ authorization: { allowed: false, reason: 'PermissionDenied', message: 'user "bob" may not grant tools "mcp.github"', decisions: [] } }));
  assert.ok(pending.need === undefined && denied.need === undefined);
  assert.equal(pending.state, 'Pending');
  assert.deepEqual([denied.state, denied.reason, denied.authorized], ['Denied', 'PermissionDenied', 'False']);
  assert.match(denied.message, /may not grant tools/);
});

test('a policy denial is Denied with PolicyDenied and the denying rule message', () => {
  const d = decideGrant(facts({ authorization: authorized, policy: { allowed: false, decisions: [deny('toolGrant', 'builtin.airgapped.network-tools', 'network tools are not allowed')] } }));
  assert.ok(d.need === undefined);
  assert.deepEqual([d.state, d.reason, d.authorized, d.policyAllowed], ['Denied', 'PolicyDenied', 'True', 'False']);
  assert.equal(d.message, 'network tools are not allowed');
});

test('a profile being deleted: an Active grant stays Active (and holds it), a new one waits Pending (ProfileDeleting)', () => {
  const deleting = { ...readyProfile, deleting: true, message: 'profile personal is being deleted: nothing new is admitted under it' };
  const kept = decideGrant(facts({ profile: deleting, previousState: 'Active', authorization: authorized, policy: policyAllows }));
  assert.equal(kept.need === undefined && kept.state, 'Active');
  const fresh = decideGrant(facts({ profile: deleting }));
  assert.equal(fresh.need, undefined);
  if (fresh.need === undefined) {
    assert.deepEqual([fresh.state, fresh.reason, fresh.waiting], ['Pending', 'ProfileDeleting', true]);
    assert.equal(fresh.message, 'waiting: profile personal is being deleted: nothing new is admitted under it');
  }
});
