import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitModelProvider, attemptOutcome, recordNameFor } from '../../../src/reconcilers/execution-state.ts';
import type { ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding } from '../../../src/api/types.generated.ts';
import { allow, deny } from '../../../src/governance/decision.ts';

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
  const ex = { metadata: { name: 'run', namespace: 'ns' }, spec: { modelProviderRef: { name: 'llm' } } } as unknown as LocalAgentExecution;
  const binding = (phase?: string, extra: Record<string, unknown> = {}) => ({ metadata: { name: 'llm', namespace: 'ns', ...extra }, spec: {}, status: phase ? { phase, conditions: [{ type: 'Ready', status: 'False', message: 'endpoint not allowed' }] } : undefined }) as unknown as ModelProviderBinding;
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

