import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENESIS_HASH, entryFor, type AuditEntry, type AuditRecord } from '../../../src/governance/audit-log.ts';
import { segmentFor, segmentName, verifySegments } from '../../../src/governance/cluster-audit-store.ts';

const record = (i: number): AuditRecord => ({ operationType: 'agent_machine.tool_grant.apply', commandRef: `ns/g${i}`, object: { kind: 'ToolGrantRecord', namespace: 'ns', name: `g${i}` }, actor: 'alice', outcome: 'allowed', reason: 'Active' });

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let head = { seq: 0, hash: GENESIS_HASH };
  for (let i = 1; i <= n; i++) {
    const e = entryFor(record(i), head, new Date('2026-12-07T00:00:00Z'));
    out.push(e);
    head = { seq: e.seq, hash: e.hash };
  }
  return out;
}

test('segments are named by their first seq so names sort in chain order, and verify as one chain', () => {
  assert.equal(segmentName(7), 'agent-machine-audit-000000000007');
  const e = chain(25);
  const segs = [segmentFor('sys', e.slice(10, 20)), segmentFor('sys', e.slice(0, 10)), segmentFor('sys', e.slice(20))];
  assert.equal(segs[0]!.immutable, true);
  const v = verifySegments(segs);
  assert.deepEqual([v.ok, v.entries, v.head.seq, v.head.hash], [true, 25, 25, e[24]!.hash]);
  assert.deepEqual(verifySegments([]), { ok: true, entries: 0, head: { seq: 0, hash: GENESIS_HASH } });
});

test('a deleted, edited or re-made segment breaks the chain at the first bad seq', () => {
  const e = chain(30);
  const segs = [segmentFor('sys', e.slice(0, 10)), segmentFor('sys', e.slice(10, 20)), segmentFor('sys', e.slice(20))];
  const deleted = verifySegments([segs[0]!, segs[2]!]);
  assert.deepEqual([deleted.ok, deleted.firstBadSeq], [false, 11]);
  const edited = structuredClone(segs);
  edited[1]!.data!['entries.jsonl'] = edited[1]!.data!['entries.jsonl']!.replace('"outcome":"allowed"', '"outcome":"denied"');
  const v = verifySegments(edited);
  assert.deepEqual([v.ok, v.firstBadSeq, v.entries], [false, 11, 10]);
  assert.match(v.problem!, /the line was edited/);
  // A segment re-made with a re-chained entry (valid hashes, wrong place) is caught by prevHash.
  const forged = chain(30).slice(10, 20).map((x) => ({ ...x }));
  forged[0]!.prevHash = 'f'.repeat(64);
  const f = verifySegments([segs[0]!, segmentFor('sys', forged), segs[2]!]);
  assert.equal(f.ok, false);
  assert.equal(f.firstBadSeq, 11);
});
