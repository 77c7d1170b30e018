// The Controller's contract with its reconcile function, driven by a stand-in event source
// (the informer's handler interface only; informers themselves are tested against a real
// API server in test/integration/operator-informer.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Controller, ownerKeys } from '../../../src/operator/controller.ts';
import type { Informer, InformerHandlers } from '../../../src/operator/informer.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';

const flush = async (rounds = 5): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

function eventSource() {
  const handlers = new Set<InformerHandlers<KubernetesObject>>();
  const source = {
    on(h: InformerHandlers<KubernetesObject>) {
      handlers.add(h);
      return () => void handlers.delete(h);
    },
  } as unknown as Informer;
  const add = (obj: KubernetesObject) => handlers.forEach((h) => h.add?.(obj));
  return { source, add, count: () => handlers.size };
}

const cm = (name: string, ns = 'n', owner?: string): KubernetesObject => ({
  metadata: {
    name,
    namespace: ns,
    ...(owner ? { ownerReferences: [{ apiVersion: 'x/v1', kind: 'Parent', name: owner, uid: 'u' }] } : {}),
  },
});

test('events enqueue keys; related objects map to their owner; queued until start()', async () => {
  const primary = eventSource();
  const owned = eventSource();
  const seen: string[] = [];
  const c = new Controller({
    kind: 'Parent',
    informer: primary.source,
    watches: [{ informer: owned.source, map: ownerKeys('Parent', true) }],
    reconcile: async (key) => void seen.push(key),
  });
  primary.add(cm('a'));
  owned.add(cm('child', 'n', 'b'));
  owned.add(cm('orphan'));
  primary.add(cm('a'));
  await flush();
  assert.deepEqual(seen, [], 'workers start only with start() (leadership)');
  assert.equal(c.queue.depth(), 2);
  c.start();
  await flush();
  assert.deepEqual(seen.sort(), ['n/a', 'n/b']);
  await c.shutdown(100);
  assert.equal(primary.count(), 0, 'handlers are removed on shutdown');
});

test('errors are retried with backoff and counted; success forgets; requeueAfter schedules a revisit', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const src = eventSource();
  const metrics = createMetrics({ defaultMetrics: false });
  const attempts: number[] = [];
  let failuresLeft = 2;
  const c = new Controller({
    kind: 'Thing',
    informer: src.source,
    backoff: { baseDelayMs: 100 },
    metrics,
    reconcile: (_key, ctx) => {
      attempts.push(ctx.attempt);
      if (failuresLeft-- > 0) throw new Error('transient'); // synchronous throw: caught too
      return Promise.resolve({ requeueAfterMs: 1_000 });
    },
  });
  c.start();
  src.add(cm('x'));
  await flush();
  assert.deepEqual(attempts, [0]);
  t.mock.timers.tick(100);
  await flush();
  assert.deepEqual(attempts, [0, 1]);
  t.mock.timers.tick(199);
  await flush();
  assert.deepEqual(attempts, [0, 1], 'second retry waits 200 ms');
  t.mock.timers.tick(1);
  await flush();
  assert.deepEqual(attempts, [0, 1, 2]);
  assert.equal(c.queue.numRequeues('n/x'), 0, 'success forgets the failures');
  t.mock.timers.tick(1_000);
  await flush();
  assert.deepEqual(attempts, [0, 1, 2, 0], 'requeueAfter revisits the key');

  const text = await metrics.registry.metrics();
  assert.match(text, /agent_machine_reconcile_total\{kind="Thing",result="error"\} 2/);
  assert.match(text, /agent_machine_reconcile_total\{kind="Thing",result="requeue"\} 2/);
  assert.match(text, /agent_machine_reconcile_errors_total\{kind="Thing"\} 2/);
  assert.match(text, /agent_machine_reconcile_duration_seconds_count\{kind="Thing"\} 4/);
  await c.shutdown(0);
});

test('decidesOn: an update that leaves what the controller decides on unchanged is not enqueued; a resync still is', async () => {
  const handlers = new Set<InformerHandlers<KubernetesObject>>();
  const source = { on: (h: InformerHandlers<KubernetesObject>) => (handlers.add(h), () => void handlers.delete(h)) } as unknown as Informer;
  const update = (obj: KubernetesObject, old: KubernetesObject) => handlers.forEach((h) => h.update?.(obj, old));
  const seen: string[] = [];
  const obj = (rv: string, phase: string, note: string) => ({ metadata: { name: 'e', namespace: 'n', resourceVersion: rv }, status: { phase, note } }) as KubernetesObject;
  const c = new Controller({ kind: 'X', informer: source, decidesOn: (o) => (o as { status?: { phase?: string } }).status?.phase ?? '', reconcile: async (key) => void seen.push(key) });
  c.start();
  update(obj('2', 'Running', 'usage 1'), obj('1', 'Running', 'usage 0'));
  await flush();
  assert.deepEqual(seen, [], 'a status write that only moved usage');
  update(obj('3', 'Succeeded', 'usage 1'), obj('2', 'Running', 'usage 1'));
  await flush();
  assert.deepEqual(seen, ['n/e'], 'the phase changed');
  update(obj('3', 'Succeeded', 'usage 1'), obj('3', 'Succeeded', 'usage 1'));
  await flush();
  assert.deepEqual(seen, ['n/e', 'n/e'], 'a resync (same resourceVersion) is always looked at');
  await c.shutdown(100);
});
