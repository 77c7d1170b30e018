// settle() with stand-ins for the recorder and the status writer (what it hands them is the
// subject), and the real metrics registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ToolGrantRecord } from '../../../../src/api/types.generated.ts';
import { RESOURCES } from '../../../../src/api/resources.ts';
import { createMetrics } from '../../../../src/observability/metrics.ts';
import type { ReconcilerDeps } from '../../../../src/reconcilers/deps.ts';
import type { Command } from '../../../../src/reconcilers/command-recorder.ts';
import type { GovernedKind } from '../../../../src/reconcilers/core/governed-kind.ts';
import { settle, type Verdict } from '../../../../src/reconcilers/core/settle.ts';

type Phase = 'Pending' | 'Active' | 'Denied';
const KIND: GovernedKind<ToolGrantRecord, Phase> = {
  resource: RESOURCES.ToolGrantRecord,
  phaseOf: (g) => g.status?.state as Phase | undefined,
  projection: {
    Pending: { outcome: 'denied', state: 'queued', event: 'progress', warning: true },
    Active: { outcome: 'allowed', state: 'completed', event: 'complete', warning: false },
    Denied: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
  },
  readyPhase: 'Active',
  eventReason: { Active: 'Activated' },
  auditOn: 'phase-or-reason',
  countsDenial: (p) => p === 'Denied',
};
const NOW = new Date('2026-01-01T00:00:00Z');

function harness() {
  const audited: Command[] = [];
  const written: Array<Record<string, unknown>> = [];
  const order: string[] = [];
  const warned: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const metrics = createMetrics();
  const deps = {
    recorder: { record: async (_obj: unknown, c: Command) => void (audited.push(c), order.push('audit')) },
    status: { write: async (_t: unknown, _o: unknown, s: Record<string, unknown>) => (written.push(s), order.push('status'), { outcome: 'written', object: {} }) },
    metrics,
    logger: { warn: (fields: Record<string, unknown>, msg: string) => void warned.push({ fields, msg }) },
    clock: () => NOW,
  } as unknown as ReconcilerDeps;
  return { deps, audited, written, order, metrics, warned };
}

function grant(status?: Record<string, unknown>): ToolGrantRecord {
  return { metadata: { name: 'g', namespace: 'ns', uid: 'u1', generation: 2 }, spec: { authority: { delegator: 'alice', delegate: 'bot' } }, ...(status ? { status } : {}) } as unknown as ToolGrantRecord;
}

const denied: Verdict<Phase> = {
  phase: 'Denied',
  reason: 'PolicyDenied',
  message: 'no',
  operationType: 'agent_machine.tool_grant.apply',
  decisions: [{ gate: 'toolGrant', rule: 'r', allowed: false, message: 'no' }, { gate: 'x', rule: 'y', allowed: true, message: 'ok' }] as Verdict<Phase>['decisions'],
  authorized: 'True',
  policyAllowed: 'False',
  requeueAfterMs: 30_000,
};

test('a transition is audited first, counts its denial, then the whole status is written once', async () => {
  const h = harness();
  let published = false;
  const { result } = await settle(h.deps, KIND, grant(), { now: NOW, verdict: denied, fields: { state: 'Denied', expiresAt: 'x' }, beforeWrite: () => void ((published = true), h.order.push('publish')) });
  assert.deepEqual(h.order, ['audit', 'publish', 'status']);
  assert.ok(published);
  assert.equal(h.audited.length, 1);
  assert.deepEqual({ ...h.audited[0], decisions: undefined }, { operationType: 'agent_machine.tool_grant.apply', outcome: 'denied', reason: 'PolicyDenied', message: 'no', warning: true, actor: 'alice', delegate: 'bot', decisions: undefined });
  assert.match(await h.metrics.registry.metrics(), /agent_machine_policy_denials_total\{gate="toolGrant"\} 1/);
  assert.equal(h.written.length, 1);
  const s = h.written[0]!;
  assert.deepEqual(Object.keys(s), ['state', 'expiresAt', 'observedGeneration', 'conditions', 'decisions', 'operation'], 'the kind fields first');
  const conditions = s.conditions as Array<{ type: string; status: string; reason: string }>;
  assert.deepEqual(conditions.map((c) => [c.type, c.status, c.reason]), [
    ['Authorized', 'True', 'Authorized'],
    ['PolicyAllowed', 'False', 'PolicyDenied'],
    ['Ready', 'False', 'PolicyDenied'],
    ['Reconciling', 'False', 'Stalled'],
    ['Stalled', 'True', 'PolicyDenied'],
  ]);
  assert.equal((s.decisions as Array<{ allowed: boolean }>)[0]!.allowed, false, 'denials first');
  assert.equal((s.operation as { state: string }).state, 'failed');
  assert.deepEqual(result, { requeueAfterMs: 30_000 });
});

test('the same decision again is not audited (phase-or-reason); the Event reason and the Ready phase come from the kind', async () => {
  const h = harness();
  const prev = grant({ state: 'Denied', conditions: [{ type: 'Ready', status: 'False', reason: 'PolicyDenied', message: 'no' }] });
  await settle(h.deps, KIND, prev, { now: NOW, verdict: denied, fields: { state: 'Denied' } });
  assert.equal(h.audited.length, 0);
  assert.doesNotMatch(await h.metrics.registry.metrics(), /agent_machine_policy_denials_total\{gate="toolGrant"\} 1/);
  await settle(h.deps, KIND, prev, { now: NOW, verdict: { ...denied, reason: 'AuthorityExpired' }, fields: { state: 'Denied' } });
  assert.equal(h.audited.length, 1, 'a new reason is a transition');
  await settle(h.deps, KIND, prev, { now: NOW, verdict: { ...denied, phase: 'Active', reason: 'Active', decisions: [], authorized: 'True', policyAllowed: 'True' }, fields: { state: 'Active' } });
  assert.equal(h.audited[1]!.reason, 'Activated');
  assert.equal(h.audited[1]!.warning, false);
  const ready = (h.written[2]!.conditions as Array<{ type: string; status: string }>).find((c) => c.type === 'Ready');
  assert.equal(ready?.status, 'True');
});

test("auditOn 'phase' ignores a new reason; 'phase-reason-or-generation' audits a new generation", async () => {
  const h = harness();
  const prev = grant({ state: 'Denied', observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'PolicyDenied', message: 'no' }] });
  await settle(h.deps, { ...KIND, auditOn: 'phase' }, prev, { now: NOW, verdict: { ...denied, reason: 'Other' }, fields: {} });
  assert.equal(h.audited.length, 0);
  await settle(h.deps, { ...KIND, auditOn: 'phase-reason-or-generation' }, prev, { now: NOW, verdict: denied, fields: {} });
  assert.equal(h.audited.length, 1, 'generation 2 was never decided');
});

test('a waiting verdict is audited as queued with a Normal event; warns() turns a phase Warning by its reason', async () => {
  const h = harness();
  await settle(h.deps, KIND, grant(), { now: NOW, verdict: { ...denied, phase: 'Pending', reason: 'ProfileNotFound', message: 'waiting: profile p not found', waiting: true }, fields: { state: 'Pending' } });
  assert.deepEqual([h.audited[0]!.outcome, h.audited[0]!.warning], ['queued', false], 'the projection says denied+Warning; waiting overrides it');

  const warns = { ...KIND, warns: (phase: Phase, reason: string) => (phase === 'Active' && reason === 'Odd' ? true : undefined) };
  const w = harness();
  await settle(w.deps, warns, grant(), { now: NOW, verdict: { ...denied, phase: 'Active', reason: 'Odd' }, fields: { state: 'Active' } });
  await settle(w.deps, warns, grant({ state: 'Pending' }), { now: NOW, verdict: { ...denied, phase: 'Active', reason: 'Active' }, fields: { state: 'Active' } });
  assert.deepEqual(w.audited.map((c) => c.warning), [true, false], 'by reason, else the phase');
});

test('observedGeneration is the generation decided on, even when the kind carries its previous status over', async () => {
  const h = harness();
  // An execution spreads its previous status into its fields: the cancel that bumped the
  // generation must not leave the old observedGeneration (kstatus: InProgress forever).
  await settle(h.deps, KIND, grant({ state: 'Pending', observedGeneration: 1 }), { now: NOW, verdict: denied, fields: { state: 'Denied', observedGeneration: 1 } });
  assert.equal(h.written[0]!.observedGeneration, 2);
});

test('a denial is logged once at warn with kind/namespace/name; a decision repeated is not logged again', async () => {
  const h = harness();
  await settle(h.deps, KIND, grant(), { now: NOW, verdict: denied, fields: { state: 'Denied' } });
  assert.deepEqual(h.warned.map((w) => w.msg), ['admission denied ToolGrantRecord ns/g: PolicyDenied']);
  assert.equal(h.warned[0]!.fields.name, 'g');
  // The same decision again (no transition): nothing new in the log.
  const ready = { type: 'Ready', status: 'False', reason: 'PolicyDenied', message: 'no', lastTransitionTime: '2026-01-01T00:00:00Z' };
  await settle(h.deps, KIND, grant({ state: 'Denied', conditions: [ready] }), { now: NOW, verdict: denied, fields: { state: 'Denied' } });
  assert.equal(h.warned.length, 1);
});
