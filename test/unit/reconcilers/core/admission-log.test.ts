import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allow, deny } from '../../../../src/governance/decision.ts';
import { admissionLogLine, type AdmissionLogInput } from '../../../../src/reconcilers/core/admission-log.ts';

const base: AdmissionLogInput = { kind: 'ToolGrantRecord', namespace: 'team-a', name: 'gh', uid: 'u1', phase: 'Denied', reason: 'PolicyDenied', outcome: 'denied', waiting: false, decisions: [allow('authority', 'a', 'ok'), deny('toolGrant', 'builtin.x', 'no')] };

test('a denial: kind/namespace/name, phase, reason and the denying gate, no message text', () => {
  const line = admissionLogLine(base)!;
  assert.deepEqual(line.fields, { kind: 'ToolGrantRecord', namespace: 'team-a', name: 'gh', uid: 'u1', phase: 'Denied', reason: 'PolicyDenied', gate: 'toolGrant', rule: 'builtin.x' });
  assert.equal(line.msg, 'admission denied ToolGrantRecord team-a/gh: PolicyDenied');
  assert.ok(!JSON.stringify(line).includes('"no"'), 'the decision message is not logged');
});

test('a hold: waiting or Pending/Queued, whatever the projection says; a cluster-scoped object has no namespace', () => {
  const held = admissionLogLine({ ...base, phase: 'Pending', reason: 'ProfileNotFound', outcome: 'denied', waiting: true, decisions: [] })!;
  assert.equal(held.msg, 'admission held ToolGrantRecord team-a/gh: ProfileNotFound');
  const queued = admissionLogLine({ ...base, kind: 'LocalAgentExecution', phase: 'Queued', reason: 'WaitingForSlot', outcome: 'queued', decisions: [] })!;
  assert.match(queued.msg, /^admission held LocalAgentExecution team-a\/gh: WaitingForSlot$/);
  const profile = admissionLogLine({ ...base, kind: 'AgentMachineProfile', namespace: undefined, name: 'personal', phase: 'Invalid', reason: 'InvalidRule', decisions: [] })!;
  assert.equal(profile.msg, 'admission denied AgentMachineProfile personal: InvalidRule');
  assert.equal(profile.fields.namespace, undefined);
});

test('what neither denies nor holds is not logged', () => {
  for (const [phase, outcome] of [['Active', 'allowed'], ['Running', 'started'], ['Failed', 'failed'], ['Cancelled', 'cancelled'], ['Unreachable', 'failed']] as const) {
    assert.equal(admissionLogLine({ ...base, phase, outcome, reason: phase }), undefined, phase);
  }
});
