import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METRIC_NAMES, createMetrics } from '../../../src/observability/metrics.ts';

test('the registry exposes the operator metrics with their names, types and labels', async () => {
  const m = createMetrics();
  m.reconcileTotal.inc({ kind: 'ToolGrantRecord', result: 'success' });
  m.reconcileErrors.inc({ kind: 'ToolGrantRecord' });
  m.reconcileDuration.observe({ kind: 'ToolGrantRecord' }, 0.02);
  m.toolGrants.set({ state: 'active' }, 3);
  m.policyDenials.inc({ gate: 'tool_grant' });
  let depth = 7;
  const untrack = m.trackQueueDepth('ToolGrantRecord', () => depth);

  const text = await m.registry.metrics();
  const expectType = (name: string, type: string) =>
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} should be a ${type}`);
  expectType(METRIC_NAMES.reconcileTotal, 'counter');
  expectType(METRIC_NAMES.reconcileErrors, 'counter');
  expectType(METRIC_NAMES.reconcileDuration, 'histogram');
  expectType(METRIC_NAMES.workqueueDepth, 'gauge');
  expectType(METRIC_NAMES.toolGrants, 'gauge');
  expectType(METRIC_NAMES.policyDenials, 'counter');
  assert.match(text, /^agent_machine_reconcile_total\{kind="ToolGrantRecord",result="success"\} 1$/m);
  assert.match(text, /^agent_machine_reconcile_errors_total\{kind="ToolGrantRecord"\} 1$/m);
  assert.match(text, /^agent_machine_reconcile_duration_seconds_count\{kind="ToolGrantRecord"\} 1$/m);
  assert.match(text, /^agent_machine_workqueue_depth\{kind="ToolGrantRecord"\} 7$/m);
  assert.match(text, /^agent_machine_tool_grants\{state="active"\} 3$/m);
  assert.match(text, /^agent_machine_policy_denials_total\{gate="tool_grant"\} 1$/m);
  assert.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics');
  assert.match(text, /^nodejs_heap_size_total_bytes /m);

  depth = 2;
  assert.match(await m.registry.metrics(), /^agent_machine_workqueue_depth\{kind="ToolGrantRecord"\} 2$/m, 'depth is read at scrape time');
  untrack();
  assert.doesNotMatch(await m.registry.metrics(), /^agent_machine_workqueue_depth\{/m);
});

test('registries are independent (several managers in one process)', async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.policyDenials.inc({ gate: 'network' });
  assert.match(await a.registry.metrics(), /gate="network"/);
  assert.doesNotMatch(await b.registry.metrics(), /gate="network"/);
});
