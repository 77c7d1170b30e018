import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkpointProblem, planCompaction, sealCheckpoint, startOf } from '../../../src/governance/audit-checkpoint.ts';
import { GENESIS_HASH } from '../../../src/governance/audit-log.ts';

const seg = (first: number, last: number) => ({ name: `s${first}`, first, last });
const cp = (lastSeq: number) => sealCheckpoint({ count: lastSeq, firstSeq: 1, lastSeq, headHash: 'a'.repeat(64), at: '2026-12-08T00:00:00.000Z', by: 'test' });

test('a sealed checkpoint verifies; any edited field breaks its seal; a wrong count is refused', () => {
  const c = cp(100);
  assert.equal(checkpointProblem(c), undefined);
  for (const edit of [{ count: 99 }, { lastSeq: 101 }, { headHash: 'b'.repeat(64) }, { at: '2027-01-01T00:00:00.000Z' }]) assert.match(checkpointProblem({ ...c, ...edit })!, /edited/);
  assert.match(checkpointProblem(sealCheckpoint({ count: 5, firstSeq: 1, lastSeq: 100, headHash: 'x', at: 'now', by: 't' }))!, /claims 5 entries/);
  assert.match(checkpointProblem({ count: 1 })!, /lacks/);
  assert.deepEqual(startOf(undefined), { seq: 0, hash: GENESIS_HASH });
  assert.deepEqual(startOf(c), { seq: 100, hash: 'a'.repeat(64) });
});

test('compaction takes the oldest whole segments beyond the retained entries, never across a gap', () => {
  const segs = [seg(1, 100), seg(101, 200), seg(201, 300), seg(301, 350)];
  assert.equal(planCompaction(segs, undefined, 1000), undefined, 'nothing due');
  // Keep 150: segments ending at seq <= 350 - 150 = 200 go.
  assert.deepEqual(planCompaction(segs, undefined, 150), { covered: [seg(1, 100), seg(101, 200)], lastSeq: 200, stale: [] });
  assert.deepEqual(planCompaction(segs, undefined, 0)?.lastSeq, 350);
  // After a checkpoint at 200 whose deletes were cut short: those segments are only deleted.
  assert.deepEqual(planCompaction(segs, cp(200), 50), { covered: [seg(201, 300)], lastSeq: 300, stale: [seg(1, 100), seg(101, 200)] });
  assert.deepEqual(planCompaction(segs.slice(2), cp(200), 1000), undefined);
  // A gap (a deleted segment) is never sealed over: verification names it.
  assert.deepEqual(planCompaction([seg(1, 100), seg(201, 300), seg(301, 400)], undefined, 0)?.covered, [seg(1, 100)]);
  assert.equal(planCompaction([seg(101, 200)], undefined, 0), undefined);
});
