import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageLedger, gatewayCounts } from '../../../src/gateway/ledger.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { execution } from './fixtures.ts';

function setup() {
  const patches: any[] = [];
  const lines: any[] = [];
  const clients = { request: async (o: any) => void patches.push(o) } as unknown as KubeClients;
  const logger = createLogger({ destination: { write: (l: string) => void lines.push(JSON.parse(l)) } as any });
  return { patches, lines, ledger: new UsageLedger({ clients, logger, flushIntervalMs: 60_000 }) };
}

const effective = () => execution().status!.budget!.effective as any;

test('reservations: in-flight calls count against the budget; release hands one back; commit books tokens', () => {
  const { ledger } = setup();
  const ex = execution();
  const a = ledger.reserve(ex, effective(), 'modelCall');
  const b = ledger.reserve(ex, effective(), 'modelCall');
  const c = ledger.reserve(ex, effective(), 'modelCall');
  const d = ledger.reserve(ex, effective(), 'modelCall');
  assert.ok(a.ok && b.ok && c.ok);
  assert.ok(!d.ok && d.dimension === 'modelCalls' && d.used === 3 && d.limit === 3);
  if (c.ok) c.release();
  assert.ok(ledger.reserve(ex, effective(), 'modelCall').ok, 'a released call frees its slot');
  if (a.ok) a.commit(60);
  if (b.ok) b.commit(50);
  assert.deepEqual(ledger.usage(ex), { modelCalls: 2, tokens: 110, connectorCalls: 0 });
});

test('token allowances held by calls in flight count against the tokens budget until their usage is booked', () => {
  const { ledger } = setup();
  const ex = execution();
  const limit = effective().tokens as number;
  const a = ledger.reserve(ex, effective(), 'modelCall');
  assert.ok(a.ok);
  assert.equal(a.tokensLeft(), limit);
  a.holdTokens(limit);
  const b = ledger.reserve(ex, effective(), 'modelCall');
  assert.ok(!b.ok && b.dimension === 'tokens', 'the whole budget is held by the call in flight');
  a.commit(7);
  const c = ledger.reserve(ex, effective(), 'modelCall');
  assert.ok(c.ok && c.tokensLeft() === limit - 7, 'commit books the usage and frees the rest of the allowance');
  c.holdTokens(10);
  c.release();
  const d = ledger.reserve(ex, effective(), 'modelCall');
  assert.ok(d.ok && d.tokensLeft() === limit - 7, 'release frees the allowance');
});

test('starts from status after a restart', () => {
  const { ledger } = setup();
  const ex = execution({}, { budget: { effective: effective(), used: { modelCalls: 2, tokens: 40, connectorCalls: 1, wallClockSeconds: 9 } } });
  assert.deepEqual(ledger.usage(ex), { modelCalls: 2, tokens: 40, connectorCalls: 1 });
  const r = ledger.reserve(ex, effective(), 'modelCall');
  assert.ok(r.ok);
  assert.ok(!ledger.reserve(ex, effective(), 'modelCall').ok);
});

test('flush: one patch of the three counts with the UID; dropped counts are written again once the execution finished', async () => {
  const { ledger, patches, lines } = setup();
  const ex = execution();
  const r = ledger.reserve(ex, effective(), 'connectorCall');
  if (r.ok) r.commit(0);
  await ledger.flush();
  assert.equal(patches.length, 1);
  assert.deepEqual(patches[0].body, { metadata: { uid: 'e-run' }, status: { budget: { used: { modelCalls: 0, tokens: 0, connectorCalls: 1 } } } });
  // Another writer dropped them while it runs: a warning, no tug of war.
  ledger.observe(execution({}, { budget: { effective: effective(), used: { wallClockSeconds: 3 } } }));
  await ledger.flush();
  assert.equal(patches.length, 1);
  assert.equal(lines.filter((l) => /lost the gateway counts/.test(l.msg)).length, 1);
  // Finished without them: the final counts are written.
  ledger.observe(execution({}, { phase: 'Succeeded', budget: { effective: effective(), used: { wallClockSeconds: 4 } } }));
  await ledger.flush();
  assert.equal(patches.length, 2);
  // Finished with them: forgotten, nothing more written.
  ledger.observe(execution({}, { phase: 'Succeeded', budget: { effective: effective(), used: { connectorCalls: 1 } } }));
  await ledger.flush();
  assert.equal(patches.length, 2);
  ledger.stop();
});

test('gatewayCounts carries over exactly the gateway dimensions', () => {
  assert.deepEqual(gatewayCounts({ modelCalls: 3, tokens: 10, connectorCalls: 0, wallClockSeconds: 5, cpuGpuComputeSeconds: 1 }), { modelCalls: 3, tokens: 10, connectorCalls: 0 });
  assert.deepEqual(gatewayCounts(undefined), {});
  assert.deepEqual(gatewayCounts({ modelCalls: -1, tokens: 1.5 }), {});
});
