import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import type { LocalAgentExecution } from '../../../src/api/types.generated.ts';
import { RESOURCES } from '../../../src/api/resources.ts';
import { Informer } from '../../../src/operator/informer.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { ExecutionSlots, mayTakeSlot } from '../../../src/reconcilers/execution-slots.ts';

test('slots go to waiting executions in creation order', () => {
  const waiting = [
    { key: 'ns/c', createdAt: '2026-01-01T00:00:03Z' },
    { key: 'ns/a', createdAt: '2026-01-01T00:00:01Z' },
    { key: 'ns/b', createdAt: '2026-01-01T00:00:02Z' },
  ];
  assert.equal(mayTakeSlot('ns/a', 2, 1, waiting), true);
  assert.equal(mayTakeSlot('ns/b', 2, 1, waiting), false, 'one free slot: only the oldest');
  assert.equal(mayTakeSlot('ns/b', 2, 0, waiting), true);
  assert.equal(mayTakeSlot('ns/c', 2, 0, waiting), false);
  assert.equal(mayTakeSlot('ns/a', 2, 2, waiting), false, 'no free slot');
  assert.equal(mayTakeSlot('ns/x', 5, 0, waiting), false, 'not waiting: not a candidate');
});

test('first in line: the oldest waiting executions, as many as asked (those a freed slot can go to)', async () => {
  const { firstInLine } = await import('../../../src/reconcilers/execution-slots.ts');
  const waiting = [
    { key: 'ns/c', createdAt: '2026-01-01T00:00:03Z' },
    { key: 'ns/b2', createdAt: '2026-01-01T00:00:02Z' },
    { key: 'ns/a', createdAt: '2026-01-01T00:00:01Z' },
    { key: 'ns/b1', createdAt: '2026-01-01T00:00:02Z' },
  ];
  assert.deepEqual(firstInLine(waiting, 3).map((c) => c.key), ['ns/a', 'ns/b1', 'ns/b2']);
  assert.deepEqual(firstInLine(waiting, 0), []);
  assert.equal(firstInLine(waiting, 10).length, 4);
});

test('mayTakeSlot agrees with firstInLine on random lines (it counts instead of sorting)', async () => {
  const { firstInLine } = await import('../../../src/reconcilers/execution-slots.ts');
  const { mulberry32 } = await import('../../support/prng.ts');
  const random = mulberry32(7);
  for (let round = 0; round < 200; round++) {
    const waiting = Array.from({ length: 1 + Math.floor(random() * 12) }, (_, i) => ({ key: `ns/e${Math.floor(random() * 1000)}-${i}`, createdAt: `2026-01-01T00:00:0${Math.floor(random() * 4)}Z` }));
    const limit = Math.floor(random() * 6);
    const held = Math.floor(random() * 4);
    const first = new Set(firstInLine(waiting, limit - held).map((c) => c.key));
    for (const c of waiting) assert.equal(mayTakeSlot(c.key, limit, held, waiting), first.has(c.key), `${c.key} in ${JSON.stringify(waiting)} limit ${limit} held ${held}`);
  }
});

function execution(name: string, phase: string | undefined, createdAt: string, rv = '1', profile = 'p'): LocalAgentExecution {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv, creationTimestamp: createdAt as unknown as Date },
    spec: { profileRef: { name: profile } },
    ...(phase ? { status: { phase } } : {}),
  } as unknown as LocalAgentExecution;
}

/** An informer filled by one stand-in list (its watch has nowhere to connect). */
async function executionsInformer(items: LocalAgentExecution[]): Promise<Informer<LocalAgentExecution>> {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u' });
  const clients = { kubeConfig: kc, request: async () => ({ metadata: { resourceVersion: '10' }, items: structuredClone(items) }) } as unknown as KubeClients;
  const informer = new Informer<LocalAgentExecution>(clients, RESOURCES.LocalAgentExecution, { resyncPeriodMs: 0, backoff: { initialMs: 10_000, maxMs: 10_000 } });
  informer.start();
  await informer.waitForSync(5_000);
  await informer.stop();
  return informer;
}

test('slots: holders and reservations are counted, waiters take free slots in creation order', async () => {
  const informer = await executionsInformer([
    execution('run', 'Running', '2026-01-01T00:00:00Z'),
    execution('old', 'Queued', '2026-01-01T00:00:01Z'),
    execution('new', undefined, '2026-01-01T00:00:02Z'),
    execution('done', 'Succeeded', '2026-01-01T00:00:00Z'),
    execution('other', 'Queued', '2026-01-01T00:00:00Z', '1', 'q'),
  ]);
  const slots = new ExecutionSlots(informer);
  assert.deepEqual(slots.standing('p', 'ns/new').held, 1, 'the Running one; Succeeded holds nothing');
  assert.deepEqual(slots.standing('p', 'ns/new').waiting.map((c) => c.key).sort(), ['ns/new', 'ns/old']);
  assert.equal(slots.mayTake('p', 'ns/old', 2), true);
  assert.equal(slots.mayTake('p', 'ns/new', 2), false, 'one free slot: the older one first');
  assert.equal(slots.mayTake('p', 'ns/new', 3), true);

  // A slot reserved in this process counts before its Running status comes back.
  slots.reserve('p', 'ns/old');
  assert.equal(slots.standing('p', 'ns/new').held, 2);
  // Until then it also still stands in line ahead of the newer one: the line errs on the side
  // of fewer running, never more than the limit.
  assert.equal(slots.mayTake('p', 'ns/new', 3), false);
  assert.equal(slots.mayTake('p', 'ns/new', 4), true);
  assert.equal(slots.standing('p', 'ns/old').held, 1, 'its own reservation is not held against itself');
  slots.release('ns/old', 'q');
  assert.equal(slots.standing('p', 'ns/new').held, 2, 'released under another profile: still held here');
  slots.release('ns/old');
  assert.equal(slots.standing('p', 'ns/new').held, 1);

  // The Running status arrives: the index moves it from the line to the holders.
  informer.observe(execution('old', 'Running', '2026-01-01T00:00:01Z', '2'));
  assert.equal(slots.standing('p', 'ns/new').held, 2);
  assert.deepEqual(slots.standing('p', 'ns/new').waiting.map((c) => c.key), ['ns/new']);
  assert.equal(slots.standing('q', 'ns/other').held, 0, 'profiles have separate lines');
});

test('slots: a finished or deleted execution wakes the first in line, as many as are free (at least one)', async () => {
  const informer = await executionsInformer([
    execution('a', 'Queued', '2026-01-01T00:00:03Z'),
    execution('b', 'Queued', '2026-01-01T00:00:01Z'),
    execution('c', 'Pending', '2026-01-01T00:00:02Z'),
    execution('run', 'Running', '2026-01-01T00:00:00Z'),
  ]);
  const slots = new ExecutionSlots(informer);
  const finished = execution('x', 'Succeeded', '2026-01-01T00:00:00Z');
  assert.deepEqual(slots.toWake(finished, 1), ['ns/b'], 'none free: still the first one');
  assert.deepEqual(slots.toWake(finished, 3), ['ns/b', 'ns/c']);
  assert.deepEqual(slots.toWake(execution('y', 'Queued', '2026-01-01T00:00:00Z'), 3), [], 'a waiting one frees nothing');
  const deleting = { ...execution('z', 'Running', '2026-01-01T00:00:00Z'), metadata: { ...execution('z', 'Running', '').metadata, deletionTimestamp: new Date() } } as LocalAgentExecution;
  assert.deepEqual(slots.toWake(deleting, 2), ['ns/b'], 'being deleted frees its slot whatever its phase');
});
