import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCondition, isFalse, isTrue, removeCondition, setCondition } from '../../../src/operator/conditions.ts';
import type { Condition } from '../../../src/operator/conditions.ts';

const t0 = new Date('2025-03-01T10:00:00.123Z');
const t1 = new Date('2025-03-01T10:05:00.999Z');

test('setCondition appends a new condition in metav1.Condition shape', () => {
  const out = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting' }, 3, t0);
  assert.deepEqual(out, [
    { type: 'Ready', status: 'False', observedGeneration: 3, lastTransitionTime: '2025-03-01T10:00:00Z', reason: 'Pending', message: 'waiting' },
  ]);
});

test('lastTransitionTime changes only when status changes', () => {
  const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending' }, 1, t0);
  const sameStatus = setCondition(a, { type: 'Ready', status: 'False', reason: 'StillPending', message: 'x' }, 2, t1);
  assert.equal(sameStatus[0]!.lastTransitionTime, '2025-03-01T10:00:00Z');
  assert.equal(sameStatus[0]!.reason, 'StillPending');
  assert.equal(sameStatus[0]!.observedGeneration, 2);
  const flipped = setCondition(sameStatus, { type: 'Ready', status: 'True', reason: 'Ready' }, 2, t1);
  assert.equal(flipped[0]!.lastTransitionTime, '2025-03-01T10:05:00Z');
});

test('recomputing the same conditions yields an equal array (no status churn)', () => {
  const first = setCondition([], { type: 'Ready', status: 'True', reason: 'Ok' }, 1, t0);
  const again = setCondition(first, { type: 'Ready', status: 'True', reason: 'Ok' }, 1, t1);
  assert.deepEqual(again, first);
});

test('setCondition keeps order, replaces in place and never mutates its input', () => {
  const input: Condition[] = [
    { type: 'Authorized', status: 'True', reason: 'Ok', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
    { type: 'Ready', status: 'False', reason: 'No', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
  ];
  const frozen = structuredClone(input);
  const out = setCondition(input, { type: 'Authorized', status: 'False', reason: 'Denied' }, 4, t1);
  assert.deepEqual(input, frozen);
  assert.deepEqual(out.map((c) => c.type), ['Authorized', 'Ready']);
  assert.notEqual(out[1], input[1], 'a fresh copy, not a shared object');
  assert.equal(out[0]!.status, 'False');
});

test('getCondition, isTrue, isFalse, removeCondition', () => {
  let cs = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ok' }, 1, t0);
  cs = setCondition(cs, { type: 'PolicyAllowed', status: 'False', reason: 'Denied' }, 1, t0);
  assert.equal(getCondition(cs, 'Ready')?.reason, 'Ok');
  assert.equal(getCondition(cs, 'Missing'), undefined);
  assert.equal(isTrue(cs, 'Ready'), true);
  assert.equal(isTrue(cs, 'PolicyAllowed'), false);
  assert.equal(isFalse(cs, 'PolicyAllowed'), true);
  assert.equal(isTrue(undefined, 'Ready'), false);
  assert.equal(isFalse(cs, 'Missing'), false, 'absent is neither true nor false');
  assert.deepEqual(removeCondition(cs, 'Ready').map((c) => c.type), ['PolicyAllowed']);
});
