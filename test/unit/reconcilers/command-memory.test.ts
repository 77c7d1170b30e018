import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryFor, GENESIS_HASH, type AuditEntry, type AuditRecord } from '../../../src/governance/audit-log.ts';
import { decisionKey, recalledDecisions } from '../../../src/reconcilers/command-memory.ts';

function chain(records: AuditRecord[]): AuditEntry[] {
  let head = { seq: 0, hash: GENESIS_HASH };
  return records.map((r) => {
    const e = entryFor(r, head, new Date('2026-12-08T00:00:00Z'));
    head = { seq: e.seq, hash: e.hash };
    return e;
  });
}

const grant = (uid: string, resourceVersion: string | undefined, outcome: AuditRecord['outcome'], reason: string): AuditRecord => ({
  operationType: outcome === 'revoked' ? 'agent_machine.tool_grant.revoke' : 'agent_machine.tool_grant.apply',
  commandRef: `c-${uid}`,
  object: { kind: 'ToolGrantRecord', namespace: 'ns', name: uid, uid, ...(resourceVersion ? { resourceVersion } : {}) },
  actor: 'alice',
  outcome,
  reason,
});

test('the last decision per object, keyed as the recorder keys a new one (the reason as audited)', () => {
  const long = `denied: ${'y'.repeat(600)}\nsecond line`;
  const entries = chain([grant('a', '5', 'allowed', 'granted'), grant('b', '9', 'denied', long), grant('a', '7', 'revoked', 'revoked by alice')]);
  const recalled = recalledDecisions(entries);
  assert.deepEqual([...recalled.keys()], ['b', 'a'], 'oldest first: a was decided last');
  assert.equal(recalled.get('a'), decisionKey('7', 'agent_machine.tool_grant.revoke', 'revoked', 'revoked by alice'));
  // The entry's reason was cut to 512 characters and flattened: the key of the raw message matches.
  assert.equal(recalled.get('b'), decisionKey('9', 'agent_machine.tool_grant.apply', 'denied', long));
  assert.notEqual(recalled.get('a'), decisionKey('5', 'agent_machine.tool_grant.apply', 'allowed', 'granted'), 'an earlier decision is not the last');
});

test('entries without an object uid and version (gateway batches, older records) name no decision', () => {
  const batch: AuditRecord = { ...grant('e', undefined, 'allowed', 'tool calls'), operationType: 'agent_machine.execution.start', calls: [{ kind: 'tool', target: 'mcp.x', decision: 'allowed', reason: 'allowed', calls: 3 }] };
  const noUid: AuditRecord = { ...grant('f', '3', 'allowed', 'x'), object: { kind: 'ToolGrantRecord', name: 'f', resourceVersion: '3' } };
  assert.equal(recalledDecisions(chain([batch, noUid])).size, 0);
  assert.equal(recalledDecisions([]).size, 0);
});

test('keys differ in each part: version, operation, outcome, reason', () => {
  const base = decisionKey('5', 'agent_machine.tool_grant.apply', 'allowed', 'granted');
  assert.notEqual(base, decisionKey('6', 'agent_machine.tool_grant.apply', 'allowed', 'granted'));
  assert.notEqual(base, decisionKey('5', 'agent_machine.tool_grant.revoke', 'allowed', 'granted'));
  assert.notEqual(base, decisionKey('5', 'agent_machine.tool_grant.apply', 'denied', 'granted'));
  assert.notEqual(base, decisionKey('5', 'agent_machine.tool_grant.apply', 'allowed', 'granted again'));
});
