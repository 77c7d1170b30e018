import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gateConditions, progressOf } from '../../../../src/reconcilers/core/status-parts.ts';

const now = new Date('2026-11-21T10:00:00Z');
const outcome = (phase: string, ready: boolean, reason = phase) => ({ authorized: 'True' as const, authorizedReason: '', policyAllowed: 'True' as const, ready, reason, message: `${reason} message`, phase });
const cond = (cs: Array<{ type: string; status: string; reason: string }>, type: string) => cs.find((c) => c.type === type)!;

test('kstatus: Reconciling while worked on, Stalled when stuck, neither once done', () => {
  for (const [phase, reason, expected] of [
    ['Pending', 'AuthorityUnverifiable', 'InProgress'],
    ['Queued', 'WaitingForSlot', 'InProgress'],
    ['Running', 'Running', 'InProgress'],
    ['Unreachable', 'EndpointUnreachable', 'InProgress'],
    ['Ready', 'Ready', 'Done'],
    ['Active', 'Active', 'Done'],
    ['Succeeded', 'Succeeded', 'Done'],
    ['Revoked', 'Revoked', 'Done'],
    ['Expired', 'AuthorityExpired', 'Done'],
    ['Cancelled', 'Cancelled', 'Done'],
    ['Cancelled', 'DeadlineExceeded', 'Stalled'],
    ['Cancelled', 'ComputeBudgetExceeded', 'Stalled'],
    ['Denied', 'PermissionDenied', 'Stalled'],
    ['Invalid', 'InvalidRule', 'Stalled'],
    ['Failed', 'OOMKilled', 'Stalled'],
  ] as const) {
    assert.equal(progressOf(phase, reason), expected, `${phase}/${reason}`);
  }
});

test('gateConditions writes Reconciling and Stalled with the reason, and flips them as the phase moves on', () => {
  const running = gateConditions(undefined, 3, now, outcome('Running', false));
  assert.deepEqual([cond(running, 'Reconciling').status, cond(running, 'Reconciling').reason], ['True', 'Running']);
  assert.equal(cond(running, 'Stalled').status, 'False');
  const denied = gateConditions(running, 3, now, outcome('Denied', false, 'PolicyDenied'));
  assert.deepEqual([cond(denied, 'Stalled').status, cond(denied, 'Stalled').reason], ['True', 'PolicyDenied']);
  assert.equal(cond(denied, 'Reconciling').status, 'False');
  const done = gateConditions(running, 3, now, outcome('Succeeded', true));
  assert.equal(cond(done, 'Reconciling').status, 'False');
  assert.equal(cond(done, 'Stalled').status, 'False');
  assert.equal(cond(done, 'Ready').status, 'True');
  for (const c of done) assert.equal((c as { observedGeneration?: number }).observedGeneration, 3);
});

test('a state reached on purpose is Ready=True with its own reason (kstatus reads Ready=False as InProgress forever)', () => {
  for (const [phase, reason] of [['Revoked', 'Revoked'], ['Expired', 'AuthorityExpired'], ['Cancelled', 'Cancelled']] as const) {
    const cs = gateConditions(undefined, 2, now, outcome(phase, false, reason));
    assert.deepEqual([cond(cs, 'Ready').status, cond(cs, 'Ready').reason], ['True', reason], phase);
    assert.equal(cond(cs, 'Reconciling').status, 'False');
    assert.equal(cond(cs, 'Stalled').status, 'False');
  }
  for (const [phase, reason] of [['Cancelled', 'DeadlineExceeded'], ['Denied', 'PermissionDenied'], ['Pending', 'ProfileNotFound']] as const) {
    assert.equal(cond(gateConditions(undefined, 2, now, outcome(phase, false, reason)), 'Ready').status, 'False', `${phase}/${reason}`);
  }
});
