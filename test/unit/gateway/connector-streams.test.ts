import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalAgentExecution, ToolGrantRecord } from '../../../src/api/types.generated.ts';
import { OpenStreams, streamEndReason } from '../../../src/gateway/connector-streams.ts';
import { FakeInformer, NOW, execution, grant } from './fixtures.ts';

test('a stream serves while its grant is Active and its execution runs', () => {
  const g = grant({}, 'Active');
  const ex = execution();
  assert.equal(streamEndReason(g, g.metadata.uid!, ex, ex.metadata.uid!, NOW), undefined);
  assert.match(streamEndReason({ ...g, spec: { ...g.spec, revoked: true } }, g.metadata.uid!, ex, ex.metadata.uid!, NOW)!, /revoked/);
  assert.match(streamEndReason(g, g.metadata.uid!, ex, ex.metadata.uid!, new Date('2031-01-01T00:00:00Z'))!, /expired/);
  assert.match(streamEndReason(undefined, g.metadata.uid!, ex, ex.metadata.uid!, NOW)!, /deleted/);
  assert.match(streamEndReason({ ...g, metadata: { ...g.metadata, uid: 'other' } }, g.metadata.uid!, ex, ex.metadata.uid!, NOW)!, /deleted/);
  assert.match(streamEndReason(g, g.metadata.uid!, execution({}, { phase: 'Succeeded' }), ex.metadata.uid!, NOW)!, /finished/);
});

test('a revocation event ends the streams of that grant only', () => {
  const grants = FakeInformer.of<ToolGrantRecord>(grant({}, 'Active', 'a'), grant({}, 'Active', 'b'));
  const executions = FakeInformer.of<LocalAgentExecution>(execution());
  const streams = new OpenStreams(grants, executions, () => NOW);
  const closed: string[] = [];
  for (const name of ['a', 'b']) streams.add({ grantKey: `ns/${name}`, grantUid: `g-${name}`, executionKey: 'ns/run', executionUid: 'e-run', close: (why) => closed.push(`${name}: ${why}`) });
  grants.set({ ...grants.get('ns/a')!, status: { state: 'Revoked' } });
  assert.deepEqual(closed, ['a: its grant a is Revoked']);
  assert.equal(streams.size, 1);
  streams.stop();
  assert.equal(closed.length, 2);
});
