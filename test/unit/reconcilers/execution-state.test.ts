import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitModelProvider, admitTool, attemptOutcome, bindingServes, bindingServesAll, recordNameFor } from '../../../src/reconcilers/execution-state.ts';
import type { ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../../../src/api/types.generated.ts';
import { allow, deny, policyDenialReason } from '../../../src/governance/decision.ts';

const rec = (phase?: string) => ({ status: phase ? { phase } : undefined }) as unknown as ContainerExecutionRecord;

test('record names are deterministic, distinct per attempt, and never longer than 63', () => {
  assert.equal(recordNameFor('hello', 'agent', 0), 'hello-agent');
  assert.equal(recordNameFor('hello', 'agent', 2), 'hello-agent-r2');
  const long = recordNameFor('x'.repeat(60), 'container', 1);
  assert.ok(long.length <= 63);
  assert.equal(long, recordNameFor('x'.repeat(60), 'container', 1));
  assert.notEqual(long, recordNameFor('x'.repeat(60), 'container', 2));
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
});

test('an attempt is running until every container record is terminal', () => {
  assert.equal(attemptOutcome(2, [rec('Succeeded')]), 'running');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec('Running')]), 'running');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec()]), 'running');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec('Succeeded')]), 'succeeded');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec('Failed')]), 'failed');
  assert.equal(attemptOutcome(2, [rec('Denied'), rec('Succeeded')]), 'failed');
  assert.equal(attemptOutcome(2, [rec('Cancelled'), rec('Succeeded')]), 'cancelled');
  assert.equal(attemptOutcome(2, [rec('Cancelled'), rec('Failed')]), 'failed');
});

test('a modelProviderRef is held while its binding is missing, denied when the binding is Denied or the profile may not use it', () => {
  const ex = { metadata: { name: 'run', namespace: 'ns' }, spec: { modelProviderRef: { name: 'llm' }, authority: { delegator: 'alice', delegate: 'agent:a' } } } as unknown as LocalAgentExecution;
  const binding = (phase?: string, extra: Record<string, unknown> = {}) => ({ metadata: { name: 'llm', namespace: 'ns', ...extra }, spec: { owner: 'alice' }, status: phase ? { phase, conditions: [{ type: 'Ready', status: 'False', message: 'endpoint not allowed' }] } : undefined }) as unknown as ModelProviderBinding;
  const allowAll = () => ({ allowed: true, decisions: [allow('modelProviderUse', 'x', 'ok')] });
  const denyAll = () => ({ allowed: false, decisions: [deny('modelProviderUse', 'endpoint.local', 'not local')] });

  assert.deepEqual(admitModelProvider({ ...ex, spec: {} } as unknown as LocalAgentExecution, undefined, denyAll), { hold: false, decisions: [] }, 'no ref: nothing to decide');
  const missing = admitModelProvider(ex, undefined, allowAll);
  assert.equal(missing.hold, true);
  assert.equal(missing.hold && missing.reason, 'ModelProviderBindingNotFound');
  assert.equal(admitModelProvider(ex, binding('Ready', { deletionTimestamp: '2026-01-01T00:00:00Z' }), allowAll).hold, true, 'a binding being deleted is as good as gone');

  const denied = admitModelProvider(ex, binding('Denied'), allowAll);
  assert.equal(denied.hold, false);
  assert.ok(!denied.hold && denied.decisions.some((d) => !d.allowed && d.message.includes('endpoint not allowed')));

  const policyDenies = admitModelProvider(ex, binding('Ready'), denyAll);
  assert.ok(!policyDenies.hold && policyDenies.decisions.some((d) => !d.allowed && d.rule === 'endpoint.local'));

  const pending = admitModelProvider(ex, binding('Pending'), allowAll);
  assert.ok(!pending.hold && pending.decisions.every((d) => d.allowed), 'not Ready yet: admitted, the gateway answers 503 until it is');
});


const execution = (delegator: string, tenant?: string) =>
  ({ metadata: { name: 'run', namespace: 'ns' }, spec: { authority: { delegator, delegate: 'agent:triage' }, ...(tenant ? { tenant } : {}) } }) as unknown as LocalAgentExecution;

test("a grant serves only its own delegator's and tenant's executions, and the denial names the mismatch", () => {
  const grant = (name: string, delegator: string, extra: { tenant?: string; state?: string; delegate?: string } = {}) =>
    ({ metadata: { name, namespace: 'ns' }, spec: { tool: 't', authority: { delegator, delegate: extra.delegate ?? 'agent:triage' }, ...(extra.tenant ? { tenant: extra.tenant } : {}) }, status: { state: extra.state ?? 'Active' } }) as unknown as ToolGrantRecord;
  const alices = grant('alices', 'alice');

  assert.equal(admitTool(execution('alice'), 't', [alices]).allowed, true);
  const borrowed = admitTool(execution('bob'), 't', [alices]);
  assert.equal(borrowed.allowed, false, "bob names alice's delegate: her grant does not serve him");
  assert.equal(borrowed.rule, 'grant.delegator');
  assert.match(borrowed.message, /ToolGrantRecord ns\/alices grants tool t to agent:triage under the delegation of alice, not of bob/);
  assert.equal(policyDenialReason([borrowed]), 'GrantDelegatorMismatch');
  assert.equal(admitTool(execution('bob'), 't', [alices, grant('bobs', 'bob')]).allowed, true, 'his own grant next to hers serves him');

  const otherTenant = admitTool(execution('alice', 'acme'), 't', [grant('globex', 'alice', { tenant: 'globex' })]);
  assert.equal(otherTenant.rule, 'grant.tenant');
  assert.match(otherTenant.message, /for tenant globex, not for this execution's tenant acme/);
  assert.equal(policyDenialReason([otherTenant]), 'TenantMismatch');
  assert.equal(admitTool(execution('alice', 'acme'), 't', [grant('acme', 'alice', { tenant: 'acme' })]).allowed, true);

  for (const g of [grant('revoked', 'alice', { state: 'Revoked' }), grant('other-agent', 'alice', { delegate: 'agent:other' })]) {
    const d = admitTool(execution('alice'), 't', [g]);
    assert.equal(d.rule, 'grant.active', g.metadata.name!);
    assert.equal(d.allowed, false, g.metadata.name!);
  }
});

test("a binding serves only its own tenant's executions; a user-owned one only its owner's", () => {
  const b = (owner: string, tenant?: string) => ({ metadata: { name: 'llm', namespace: 'ns' }, spec: { owner, ...(tenant ? { tenant } : {}) } }) as unknown as ModelProviderBinding;
  const denials = (ex: LocalAgentExecution, binding: ModelProviderBinding, type?: string) => bindingServes(ex, binding, type).filter((d) => !d.allowed);

  assert.deepEqual(denials(execution('bob'), b('alice'), 'personal'), [], 'not user-owned: RBAC (use on the binding) decides');
  const notOwner = denials(execution('bob'), b('alice'), 'user_owned_model');
  assert.equal(notOwner[0]?.rule, 'binding.owner');
  assert.match(notOwner[0]!.message, /user-owned by alice, not by this execution's delegator bob/);
  assert.equal(policyDenialReason(notOwner), 'BindingOwnerMismatch');
  assert.deepEqual(denials(execution('alice'), b('alice'), 'user_owned_model'), []);

  const tenant = denials(execution('alice', 'acme'), b('alice', 'globex'));
  assert.equal(tenant[0]?.rule, 'binding.tenant');
  assert.equal(policyDenialReason(tenant), 'TenantMismatch');
  assert.equal(denials(execution('alice', 'acme'), b('alice')).length, 1, "a binding without a tenant does not serve a tenant's execution");
  assert.deepEqual(denials(execution('alice', 'acme'), b('alice', 'acme')), []);
  // bindingServesAll (the gateway's per-call question) answers exactly "no denial" in every case above and more.
  for (const [ex, bind] of [[execution('bob'), b('alice')], [execution('alice'), b('alice')], [execution('alice', 'acme'), b('alice', 'globex')], [execution('alice', 'acme'), b('alice')], [execution('alice', 'acme'), b('alice', 'acme')], [execution('bob', 'acme'), b('alice', 'acme')], [execution('alice'), b('alice', 'acme')]] as const) {
    for (const type of [undefined, 'personal', 'user_owned_model']) assert.equal(bindingServesAll(ex, bind, type), denials(ex, bind, type).length === 0, `${ex.spec.authority.delegator}/${ex.spec.tenant} ${bind.spec.owner}/${bind.spec.tenant} ${type}`);
  }
  assert.ok(admitModelProvider({ ...execution('bob'), spec: { ...execution('bob').spec, modelProviderRef: { name: 'llm' } } } as LocalAgentExecution, { ...b('alice'), status: { phase: 'Ready' } } as ModelProviderBinding, () => ({ allowed: true, decisions: [] }), 'user_owned_model').hold === false);
});
