import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allAllowed, allow, deny, firstDenial } from '../../../src/governance/decision.ts';

test('allow and deny build PolicyDecision-shaped data', () => {
  assert.deepEqual(allow('authority', 'authority.scope', 'ok'), { gate: 'authority', rule: 'authority.scope', allowed: true, message: 'ok' });
  assert.deepEqual(deny('budget', 'budget.tokens', 'too many'), { gate: 'budget', rule: 'budget.tokens', allowed: false, message: 'too many' });
});

test('fields are clamped to the CRD limits so a status write cannot fail on them', () => {
  const d = deny('g'.repeat(100), 'r'.repeat(300), 'm'.repeat(2000));
  assert.equal(d.gate.length, 64);
  assert.equal(d.rule.length, 256);
  assert.equal(d.message.length, 1024);
  assert.ok(d.message.endsWith('…'));
});

test('firstDenial finds the first deny, in order', () => {
  const decisions = [allow('a', 'r1', ''), deny('a', 'r2', 'first'), deny('a', 'r3', 'second')];
  assert.equal(firstDenial(decisions)?.rule, 'r2');
  assert.equal(firstDenial([allow('a', 'r1', '')]), undefined);
});

test('allAllowed fails closed on an empty list', () => {
  assert.equal(allAllowed([]), false);
  assert.equal(allAllowed([allow('a', 'r', '')]), true);
  assert.equal(allAllowed([allow('a', 'r', ''), deny('a', 'r', '')]), false);
});
