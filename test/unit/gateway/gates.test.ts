import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTHORITY_LOST_CODES, callPermissions, checkExecution, checkModelUse, checkToolUse, rbacRefusal } from '../../../src/gateway/gates.ts';
import { evaluatePolicy } from '../../../src/governance/policy.ts';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { modelProviderUseRequest, toolGrantRequest } from '../../../src/governance/requests.ts';
import { NOW, binding, execution, grant, profile } from './fixtures.ts';

// The CEL worker this file's evaluations run on: the test file owns it.
const sandbox = new CelSandbox();
after(() => sandbox.close());

const id = { namespace: 'ns', execution: 'run', executionUid: 'e-run' };
const modelPolicy = (p: any, b: any) => evaluatePolicy(p, modelProviderUseRequest(b.spec), { sandbox });

test('token → execution: unknown token, another UID, finished, deleted, expired delegation, not admitted', () => {
  assert.equal(checkExecution(undefined, execution(), NOW).ok, false);
  const r = (ex: any, i = id) => {
    const c = checkExecution(i, ex, NOW);
    return c.ok ? 'ok' : `${c.refusal.status} ${c.refusal.code}`;
  };
  assert.equal(r(execution()), 'ok');
  assert.equal(r(undefined), '401 token_expired');
  assert.equal(r(execution(), { ...id, executionUid: 'e-older-run-with-the-same-name' }), '401 token_expired');
  for (const phase of ['Succeeded', 'Failed', 'Cancelled', 'Denied'] as const) assert.equal(r(execution({}, { phase })), '401 token_expired', phase);
  const deleting = execution();
  deleting.metadata.deletionTimestamp = NOW;
  assert.equal(r(deleting), '401 token_expired');
  assert.equal(r(execution({ authority: { ...execution().spec.authority, expiresAt: '2026-05-31T00:00:00Z' } })), '403 authority_expired');
  assert.equal(r(execution({}, { budget: {} })), '403 not_admitted');
});

test('model use: binding missing, Denied, not Ready, stale, profile not Ready, policy denies', () => {
  const p = profile();
  const r = (ex: any, b: any, prof: any = p, policy = modelPolicy) => {
    const c = checkModelUse(ex, b, prof ?? undefined, policy);
    return c.ok ? 'ok' : `${c.refusal.status} ${c.refusal.code}`;
  };
  assert.equal(r(execution(), binding()), 'ok');
  assert.equal(r(execution({ modelProviderRef: undefined }), binding()), '403 no_model_provider');
  assert.equal(r(execution(), undefined), '403 authority_lost', 'a running execution had it at admission: lost');
  assert.equal(r(execution({}, { phase: 'Pending' }), undefined), '403 binding_not_found', 'not admitted yet: never had it');
  assert.equal(r(execution(), binding({}, { phase: 'Denied' })), '403 binding_denied');
  assert.equal(r(execution(), binding({}, { phase: 'Unreachable', conditions: [] })), '503 binding_not_ready');
  assert.equal(r(execution(), binding({}, { observedGeneration: 0 })), '503 binding_not_ready', 'a spec change not yet re-checked');
  assert.equal(r(execution(), binding(), null), '403 profile_not_ready');
  // The execution's profile is airgapped: a hosted endpoint is refused even if the binding is Ready under another profile.
  const airgapped = profile({ profileType: 'airgapped_local_only' }, 'local');
  assert.equal(r(execution(), binding({ endpoint: 'https://api.openai.com/v1', credentialsSecretRef: { name: 's', key: 'k' } }), airgapped), '403 policy_denied');
});

test('tool use: a tool the execution was admitted with whose grant is gone is lost authority, naming why', () => {
  const p = profile();
  const policy = (g: any) => evaluatePolicy(p, toolGrantRequest(g.spec), { sandbox });
  const ex = execution({ tools: ['mcp.github/create_issue'] });
  const r = (grants: any[]) => {
    const c = checkToolUse(ex, 'mcp.github/create_issue', 'create', grants, NOW, policy);
    return c.ok ? 'ok' : `${c.refusal.code}: ${c.refusal.message}`;
  };
  assert.equal(r([grant()]), 'ok');
  assert.match(r([grant({ revoked: true })]), /^authority_lost: .*g1 revoked/);
  assert.match(r([grant({ authority: { ...grant().spec.authority, expiresAt: '2026-05-31T00:00:00Z' } })]), /^authority_lost: .*g1 expired at 2026-05-31/);
  assert.match(r([]), /^authority_lost: .*lost: deleted/);
});

test('callPermissions: use on the profile always, grant on the tool for tool calls; rbacRefusal only for a denial', () => {
  const ex = execution();
  assert.deepEqual(callPermissions(ex).map((p) => `${p.verb} ${p.resource}/${p.name}`), ['use agentmachineprofiles/local']);
  assert.deepEqual(callPermissions(ex, { tool: 'mcp.x/y' }).map((p) => `${p.verb} ${p.resource}/${p.name} ${p.namespace ?? ''}`.trim()), ['use agentmachineprofiles/local', 'grant tools/mcp.x/y ns']);
  assert.deepEqual(callPermissions(ex, { binding: 'llm' }).map((p) => `${p.verb} ${p.resource}/${p.name} ${p.namespace ?? ''}`.trim()), ['use agentmachineprofiles/local', 'use modelproviderbindings/llm ns']);
  assert.equal(rbacRefusal({ allowed: true, reason: 'Authorized', message: '', decisions: [] }), undefined);
  const refusal = rbacRefusal({ allowed: false, reason: 'PermissionDenied', message: 'user "alice" may not use', decisions: [] })!;
  assert.deepEqual([refusal.status, refusal.code], [403, 'authority_lost']);
  assert.ok(AUTHORITY_LOST_CODES.has(refusal.code));
  // What the execution was not admitted with was never its authority: refused by its reason.
  assert.equal(rbacRefusal({ allowed: false, reason: 'PermissionDenied', message: 'no', decisions: [] }, false)!.code, 'permission_denied');
  assert.equal(rbacRefusal({ allowed: false, reason: 'TenantMismatch', message: 'no', decisions: [] }, false)!.code, 'tenant_mismatch');
});

test('tool use: Active grant for the delegate and tool, actions cover, revoked/expired/other delegate deny', () => {
  const p = profile();
  const policy = (g: any) => evaluatePolicy(p, toolGrantRequest(g.spec), { sandbox });
  const r = (grants: any[], tool: unknown = 'mcp.github/create_issue', action: unknown = 'create', ex = execution()) => {
    const c = checkToolUse(ex, tool, action, grants, NOW, policy);
    return c.ok ? `ok ${c.grant.metadata.name}` : `${c.refusal.status} ${c.refusal.code}`;
  };
  assert.equal(r([grant()]), 'ok g1');
  assert.equal(r([grant({ actions: ['create', 'comment'] })]), 'ok g1');
  assert.equal(r([grant({ actions: ['comment'] })]), '403 action_not_granted');
  assert.equal(r([grant({}, 'Revoked')]), '403 no_active_grant');
  assert.equal(r([grant({ revoked: true })]), '403 no_active_grant', 'spec.revoked denies before the status catches up');
  assert.equal(r([grant({ authority: { ...grant().spec.authority, expiresAt: '2026-05-31T00:00:00Z' } })]), '403 no_active_grant', 'expired by the clock');
  assert.equal(r([grant({ authority: { ...grant().spec.authority, delegate: 'agent:someone-else' } })]), '403 no_active_grant');
  const other = grant();
  other.metadata.namespace = 'elsewhere';
  assert.equal(r([other]), '403 no_active_grant');
  assert.equal(r([grant()], 'mcp.other/tool'), '403 no_active_grant');
  assert.equal(r([grant()], 'Not A Tool'), '400 invalid_tool');
  assert.equal(r([grant()], 'mcp.github/create_issue', 42), '400 invalid_action');
  // The execution's delegation must cover the tool too.
  const narrow = execution({ authority: { ...execution().spec.authority, scopes: ['agent_machine.execution.start', 'tool:mcp.slack/*'] } });
  assert.equal(r([grant()], 'mcp.github/create_issue', 'create', narrow), '403 scope_not_covered');
  // One revoked and one active grant: the active one answers.
  assert.equal(r([grant({ revoked: true }, 'Revoked', 'old'), grant({}, 'Active', 'new')]), 'ok new');
});

test("tool use: a grant serves only its own delegator's and tenant's executions; the refusal names the grant in service", () => {
  const p = profile();
  const policy = (g: any) => evaluatePolicy(p, toolGrantRequest(g.spec), { sandbox });
  const bobs = execution({ authority: { ...execution().spec.authority, delegator: 'bob' } });
  const check = (ex: any, grants: any[]) => checkToolUse(ex, 'mcp.github/create_issue', 'create', grants, NOW, policy);
  const alicesDenied = grant({ authority: { ...grant().spec.authority, expiresAt: '2026-05-31T00:00:00Z' } }, 'Denied', 'old');
  const refused = check(bobs, [alicesDenied, grant({}, 'Active', 'alices')]);
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.refusal.code, 'grant_delegator_mismatch');
  assert.match(!refused.ok ? refused.refusal.message : '', /ToolGrantRecord alices grants mcp\.github\/create_issue to agent:x under the delegation of alice, not of bob/);
  const own = check(bobs, [grant({}, 'Active', 'alices'), grant({ authority: { ...grant().spec.authority, delegator: 'bob' } }, 'Active', 'bobs')]);
  assert.equal(own.ok && own.grant.metadata.name, 'bobs');

  const acme = execution({ tenant: 'acme' });
  const otherTenant = check(acme, [grant({ tenant: 'globex' })]);
  assert.equal(!otherTenant.ok && otherTenant.refusal.code, 'tenant_mismatch');
  assert.equal(check(acme, [grant({ tenant: 'globex' }), grant({ tenant: 'acme' }, 'Active', 'acme')]).ok, true);
  assert.equal(!check(acme, [grant()]).ok, true, "a grant without a tenant does not serve a tenant's execution");
});
