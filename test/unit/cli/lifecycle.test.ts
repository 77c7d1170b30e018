// What `cancel` and `revoke` ask for, decided from the object alone, and how they name it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cancelSettled, DEFAULT_REVOCATION_REASON, describeOutcome, parseDuration, planCancel, planRevoke, revokeSettled } from '../../../src/cli/lifecycle.ts';
import { displayName, resolveTarget } from '../../../src/cli/object-client.ts';

const execution = (phase?: string, cancel?: boolean) => ({ metadata: { name: 'x', generation: 2 }, spec: { ...(cancel !== undefined ? { cancel } : {}) }, ...(phase ? { status: { phase } } : {}) });

test('cancel patches spec.cancel only while the run can still be stopped', () => {
  for (const phase of [undefined, 'Pending', 'Queued', 'Running', 'Retrying']) {
    assert.deepEqual(planCancel(execution(phase)), { patch: { spec: { cancel: true } }, note: 'cancel requested' }, String(phase));
    assert.equal(cancelSettled(execution(phase)), false);
  }
  for (const phase of ['Succeeded', 'Failed', 'Cancelled', 'Denied']) {
    const plan = planCancel(execution(phase));
    assert.equal(plan.patch, undefined, phase);
    assert.equal(plan.note, `already ${phase}: nothing to cancel`);
    assert.equal(cancelSettled(execution(phase)), true);
  }
  assert.deepEqual(planCancel(execution('Running', true)), { note: 'cancel already requested' });
});

test('revoke patches revoked with a reason (the CRD requires one), never twice', () => {
  const grant = (revoked?: boolean, reason?: string) => ({ metadata: { name: 'g', generation: 1 }, spec: { ...(revoked !== undefined ? { revoked } : {}), ...(reason ? { revocationReason: reason } : {}) } });
  assert.deepEqual(planRevoke(grant(), 'agent retired').patch, { spec: { revoked: true, revocationReason: 'agent retired' } });
  assert.deepEqual(planRevoke(grant(false), undefined).patch, { spec: { revoked: true, revocationReason: DEFAULT_REVOCATION_REASON } });
  const again = planRevoke(grant(true, 'old reason'), 'new reason');
  assert.equal(again.patch, undefined);
  assert.equal(again.note, 'already revoked (old reason); the reason is not changed');
  assert.equal(planRevoke(grant(true, 'old reason'), undefined).note, 'already revoked (old reason)');
});

test('a revocation is settled when the controller reports Revoked for that generation', () => {
  const g = (state?: string, observedGeneration?: number) => ({ metadata: { generation: 3 }, spec: { revoked: true }, status: { ...(state ? { state } : {}), ...(observedGeneration !== undefined ? { observedGeneration } : {}) } });
  assert.equal(revokeSettled(g('Active', 2), 3), false);
  assert.equal(revokeSettled(g('Revoked', 2), 3), false, 'status of the spec before the patch');
  assert.equal(revokeSettled(g('Revoked', 3), 3), true);
  assert.equal(revokeSettled(g('Revoked'), 3), true, 'no observedGeneration: the state is all there is');
  assert.equal(revokeSettled(g(undefined, 3), 3), false);
});

test('outcome lines name the phase and the Ready condition', () => {
  assert.equal(describeOutcome('Cancelled', [{ type: 'Authorized', status: 'True', reason: 'Allowed' }, { type: 'Ready', status: 'False', reason: 'Cancelled', message: 'cancelled; every container stopped' }]), 'Cancelled (Cancelled: cancelled; every container stopped)');
  assert.equal(describeOutcome('Running', undefined), 'Running');
  assert.equal(describeOutcome(undefined, []), 'unknown');
});

test('durations as kubectl wait --timeout takes them', () => {
  assert.equal(parseDuration('90'), 90);
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('2m'), 120);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('500ms'), 0.5);
  for (const bad of ['', '0', '-1', 'soon', '1d', '1m30s']) assert.equal(parseDuration(bad), undefined, bad);
});

test('targets: a bare name is the default kind; every kubectl form works; other kinds are refused', () => {
  const kinds = ['LocalAgentExecution', 'ContainerExecutionRecord'] as const;
  const forms: Array<[string, string | undefined, string, string]> = [
    ['hello', undefined, 'LocalAgentExecution', 'hello'],
    ['lae/hello', undefined, 'LocalAgentExecution', 'hello'],
    ['agentexec/hello', undefined, 'LocalAgentExecution', 'hello'],
    ['localagentexecution.agentmachine.sourceos.dev/hello', undefined, 'LocalAgentExecution', 'hello'],
    ['localagentexecutions.v1alpha1.agentmachine.sourceos.dev/hello', undefined, 'LocalAgentExecution', 'hello'],
    ['LocalAgentExecution/hello', undefined, 'LocalAgentExecution', 'hello'],
    ['cer/hello-agent', undefined, 'ContainerExecutionRecord', 'hello-agent'],
    ['containerexecutionrecord.agentmachine.sourceos.dev/hello-agent', undefined, 'ContainerExecutionRecord', 'hello-agent'],
    ['lae', 'hello', 'LocalAgentExecution', 'hello'],
  ];
  for (const [ref, name, kind, objectName] of forms) {
    assert.deepEqual(resolveTarget(ref, name, kinds, 'LocalAgentExecution'), { kind, name: objectName }, `${ref} ${name ?? ''}`);
  }
  assert.throws(() => resolveTarget('tgr/g', undefined, kinds, 'LocalAgentExecution'), /ToolGrantRecord g: this command works on LocalAgentExecution and ContainerExecutionRecord only/);
  assert.throws(() => resolveTarget('pods/x', undefined, kinds, 'LocalAgentExecution'), /unknown kind "pods"/);
  assert.deepEqual(resolveTarget('toolgrantrecord.agentmachine.sourceos.dev/g', undefined, ['ToolGrantRecord'], 'ToolGrantRecord'), { kind: 'ToolGrantRecord', name: 'g' });
  assert.equal(displayName({ kind: 'ToolGrantRecord', name: 'g' }), 'toolgrantrecord.agentmachine.sourceos.dev/g');
});
