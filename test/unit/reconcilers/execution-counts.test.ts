// agent_machine_executions{phase,profile}: counted per phase and profile, and exported as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalAgentExecution } from '../../../src/api/types.generated.ts';
import { countExecutions } from '../../../src/reconcilers/execution-counts.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';

const ex = (profile: string, phase?: string) => ({ spec: { profileRef: { name: profile } }, ...(phase ? { status: { phase } } : {}) }) as unknown as LocalAgentExecution;

test('executions are counted by phase and profile; one not reconciled yet is Pending', () => {
  const counts = countExecutions([ex('a', 'Running'), ex('a', 'Running'), ex('a', 'Succeeded'), ex('b', 'Running'), ex('b')]);
  const sorted = counts.map((c) => `${c.profile}/${c.phase}=${c.count}`).sort();
  assert.deepEqual(sorted, ['a/Running=2', 'a/Succeeded=1', 'b/Pending=1', 'b/Running=1']);
});

test('the gauge reports what the cache holds at scrape time: a phase left leaves no stale series', async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  let list = [ex('a', 'Running')];
  metrics.trackExecutions(() => countExecutions(list));
  assert.match(await metrics.registry.metrics(), /agent_machine_executions\{phase="Running",profile="a"\} 1/);
  list = [ex('a', 'Succeeded')];
  const text = await metrics.registry.metrics();
  assert.match(text, /agent_machine_executions\{phase="Succeeded",profile="a"\} 1/);
  assert.doesNotMatch(text, /phase="Running"/);
});
