import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allAllowed, allow, auditedDecisions, CREDENTIAL_MOUNT, deny, firstDenial, MAX_AUDITED_DECISIONS } from '../../../src/governance/decision.ts';

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

test('auditedDecisions keeps allows too, bounded: denials, then credential mounts, then the rest, each in order', () => {
  const allows = Array.from({ length: MAX_AUDITED_DECISIONS + 4 }, (_, i) => allow('containerExecution', `rule.${i}`, `allowed ${i}`));
  const mount = allow('artifactAccess', 'builtin.artifacts.credential-stores', `${CREDENTIAL_MOUNT}[/home/a/.ssh]`);
  const denials = [deny('networkProfile', 'n.1', 'no'), deny('budget', 'b.1', 'no')];
  const kept = auditedDecisions([...allows.slice(0, 3), denials[0]!, mount, ...allows.slice(3), denials[1]!]);
  assert.equal(kept.length, MAX_AUDITED_DECISIONS);
  assert.deepEqual(kept.slice(0, 3), [...denials, mount]);
  assert.deepEqual(kept.slice(3), allows.slice(0, MAX_AUDITED_DECISIONS - 3));
  assert.deepEqual(auditedDecisions(allows.slice(0, 2)), allows.slice(0, 2), 'a short list of allows is kept whole');
});
