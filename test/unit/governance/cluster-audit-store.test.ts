import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENESIS_HASH, entryFor, type AuditEntry, type AuditRecord } from '../../../src/governance/audit-log.ts';
import { checkpointFor, segmentFor, segmentName, tailSegments, verifySegments } from '../../../src/governance/cluster-audit-store.ts';
import { sealCheckpoint } from '../../../src/governance/audit-checkpoint.ts';

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

test('reordered segments (two swapped contents) break the chain at the first bad seq', () => {
  const e = chain(30);
  const a = segmentFor('sys', e.slice(10, 20));
  const b = segmentFor('sys', e.slice(20));
  // Each re-made under the other's name.
  const swapped = [segmentFor('sys', e.slice(0, 10)), { ...a, data: b.data }, { ...b, data: a.data }];
  const v = verifySegments(swapped);
  assert.deepEqual([v.ok, v.firstBadSeq], [false, 11]);
});

test('across a checkpoint: verifies from its head; an edited or deleted checkpoint, or a segment after it removed, is named', () => {
  const e = chain(30);
  const segs = [segmentFor('sys', e.slice(0, 10)), segmentFor('sys', e.slice(10, 20)), segmentFor('sys', e.slice(20))];
  const cp = checkpointFor('sys', sealCheckpoint({ count: 10, firstSeq: 1, lastSeq: 10, headHash: e[9]!.hash, at: '2026-12-08T00:00:00.000Z', by: 'test' }));
  const after = verifySegments(segs.slice(1), [cp]);
  assert.deepEqual([after.ok, after.entries, after.head.seq, after.checkpoint?.lastSeq], [true, 30, 30, 10]);
  // A compaction cut short left the covered segment: skipped, same answer.
  assert.deepEqual(verifySegments(segs, [cp]).entries, 30);
  const deletedCp = verifySegments(segs.slice(1));
  assert.deepEqual([deletedCp.ok, deletedCp.firstBadSeq], [false, 1]);
  const edited = structuredClone(cp);
  edited.data!['checkpoint.json'] = edited.data!['checkpoint.json']!.replace('"count":10', '"count":11');
  const ev = verifySegments(segs.slice(1), [edited]);
  assert.deepEqual([ev.ok, ev.firstBadSeq], [false, 1]);
  assert.match(ev.problem!, /edited/);
  const gap = verifySegments([segs[2]!], [cp]);
  assert.deepEqual([gap.ok, gap.firstBadSeq], [false, 11]);
  // A checkpoint whose head is not the chain's: the next segment does not link to it.
  const wrong = checkpointFor('sys', sealCheckpoint({ count: 10, firstSeq: 1, lastSeq: 10, headHash: e[8]!.hash, at: 'x', by: 'test' }));
  assert.deepEqual(verifySegments(segs.slice(1), [wrong]).firstBadSeq, 11);
});

test('tailSegments: the fewest newest segments holding the newest n entries, oldest first', () => {
  const segs = [
    { name: 's21', first: 21, last: 30 },
    { name: 's1', first: 1, last: 10 },
    { name: 's11', first: 11, last: 20 },
    { name: 's31', first: 31, last: 33 },
  ];
  assert.deepEqual(tailSegments(segs, 3).map((s) => s.name), ['s31']);
  assert.deepEqual(tailSegments(segs, 4).map((s) => s.name), ['s21', 's31']);
  assert.deepEqual(tailSegments(segs, 13).map((s) => s.name), ['s21', 's31']);
  assert.deepEqual(tailSegments(segs, 14).map((s) => s.name), ['s11', 's21', 's31']);
  assert.deepEqual(tailSegments(segs, 100).map((s) => s.name), ['s1', 's11', 's21', 's31']);
  assert.deepEqual(tailSegments(segs, 0), []);
  assert.deepEqual(tailSegments([], 10), []);
});
