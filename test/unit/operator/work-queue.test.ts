import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../../src/operator/work-queue.ts';
import { mulberry32 } from '../../support/prng.ts';

/** Lets pending promise callbacks and p-queue's scheduling run. */
const flush = async (rounds = 5): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A processor that records calls and blocks each one until released. */
function gatedProcessor() {
  const calls: string[] = [];
  const gates: Array<{ key: string; d: ReturnType<typeof deferred> }> = [];
  let active = 0;
  let maxActive = 0;
  const process = async (key: string): Promise<void> => {
    calls.push(key);
    active++;
    maxActive = Math.max(maxActive, active);
    const d = deferred();
    gates.push({ key, d });
    try {
      await d.promise;
    } finally {
      active--;
    }
  };
  const release = (key: string): void => {
    const i = gates.findIndex((g) => g.key === key);
    assert.ok(i >= 0, `no running call for ${key}`);
    const [g] = gates.splice(i, 1);
    g!.d.resolve();
  };
  return { calls, process, release, active: () => active, maxActive: () => maxActive };
}

test('keys are deduplicated while waiting, and wait until start()', async () => {
  const seen: string[] = [];
  const q = new WorkQueue(async (k) => void seen.push(k));
  q.add('a');
  q.add('b');
  q.add('a');
  q.add('a');
  assert.equal(q.depth(), 2);
  await flush();
  assert.deepEqual(seen, [], 'nothing runs before start()');
  q.start();
  await flush();
  assert.deepEqual(seen, ['a', 'b']);
  assert.equal(q.depth(), 0);
});

test('one key is never processed twice at once; an add during processing re-runs it once afterwards', async () => {
  const p = gatedProcessor();
  const q = new WorkQueue(p.process, { concurrency: 4, autoStart: true });
  q.add('a');
  await flush();
  assert.deepEqual(p.calls, ['a']);
  q.add('a');
  q.add('a');
  q.add('a');
  await flush();
  assert.deepEqual(p.calls, ['a'], 'no second concurrent run of a');
  assert.equal(q.depth(), 0, 'a dirty key is not counted as waiting');
  assert.equal(q.inFlight(), 1);
  p.release('a');
  await flush();
  assert.deepEqual(p.calls, ['a', 'a'], 'exactly one re-run');
  p.release('a');
  await flush();
  assert.deepEqual(p.calls, ['a', 'a']);
  assert.equal(p.maxActive(), 1);
});

test('different keys run in parallel up to the concurrency', async () => {
  const p = gatedProcessor();
  const q = new WorkQueue(p.process, { concurrency: 2, autoStart: true });
  for (const k of ['a', 'b', 'c', 'd']) q.add(k);
  await flush();
  assert.deepEqual(p.calls, ['a', 'b']);
  assert.equal(q.depth(), 2);
  p.release('b');
  await flush();
  assert.deepEqual(p.calls, ['a', 'b', 'c']);
  p.release('a');
  p.release('c');
  await flush();
  assert.deepEqual(p.calls, ['a', 'b', 'c', 'd']);
  p.release('d');
  await flush();
  assert.equal(p.maxActive(), 2);
});

test('addRateLimited backs off exponentially per key up to the cap; forget resets', () => {
  const q = new WorkQueue(async () => {}, { baseDelayMs: 10, maxDelayMs: 50 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => q.addRateLimited('a')), [10, 20, 40, 50, 50]);
  assert.equal(q.numRequeues('a'), 5);
  assert.equal(q.addRateLimited('b'), 10, 'backoff is per key');
  q.forget('a');
  assert.equal(q.numRequeues('a'), 0);
  assert.equal(q.addRateLimited('a'), 10);
  void q.shutdown(0);
});

test('addAfter adds the key when the delay has passed, and keeps the earliest of several', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const seen: string[] = [];
  const q = new WorkQueue(async (k) => void seen.push(k), { autoStart: true });
  q.addAfter('a', 100);
  q.addAfter('a', 500); // later: ignored, the 100 ms one stands
  q.addAfter('b', 300);
  q.addAfter('b', 50); // earlier: replaces the 300 ms one
  assert.equal(q.delayed(), 2);
  t.mock.timers.tick(49);
  await flush();
  assert.deepEqual(seen, []);
  t.mock.timers.tick(1);
  await flush();
  assert.deepEqual(seen, ['b']);
  t.mock.timers.tick(50);
  await flush();
  assert.deepEqual(seen, ['b', 'a']);
  t.mock.timers.tick(1000);
  await flush();
  assert.deepEqual(seen, ['b', 'a'], 'the superseded delays do not fire');
  assert.equal(q.delayed(), 0);
});

test('a failing processor is retried with backoff by default (nothing escapes)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  let runs = 0;
  const q = new WorkQueue(
    async () => {
      runs++;
      throw new Error('boom');
    },
    { baseDelayMs: 100, autoStart: true },
  );
  q.add('a');
  await flush();
  assert.equal(runs, 1);
  assert.equal(q.numRequeues('a'), 1);
  t.mock.timers.tick(99);
  await flush();
  assert.equal(runs, 1);
  t.mock.timers.tick(1);
  await flush();
  assert.equal(runs, 2);
  t.mock.timers.tick(200);
  await flush();
  assert.equal(runs, 3);
  assert.equal(q.numRequeues('a'), 3);
  await q.shutdown(0);
});

test('shutdown drops waiting and delayed keys, waits for in-flight ones, then takes no more work', async () => {
  const p = gatedProcessor();
  const q = new WorkQueue(p.process, { concurrency: 1, autoStart: true });
  q.add('a');
  q.add('b');
  q.addAfter('c', 60_000);
  await flush();
  assert.deepEqual(p.calls, ['a']);
  let done: boolean | undefined;
  const shutdown = q.shutdown(10_000).then((d) => (done = d));
  await flush();
  assert.equal(done, undefined, 'still waiting for a');
  assert.equal(q.depth(), 0);
  assert.equal(q.delayed(), 0);
  q.add('d');
  assert.equal(q.depth(), 0, 'no new work after shutdown');
  p.release('a');
  await shutdown;
  assert.equal(done, true);
  await flush();
  assert.deepEqual(p.calls, ['a'], 'b was dropped, d never taken');
});

test('shutdown gives up after its timeout when a reconcile hangs', async () => {
  const q = new WorkQueue(() => new Promise<void>(() => {}), { autoStart: true });
  q.add('stuck');
  await flush();
  assert.equal(q.inFlight(), 1);
  assert.equal(await q.shutdown(20), false);
});

test('a key added while being processed during shutdown is not re-run', async () => {
  const p = gatedProcessor();
  const q = new WorkQueue(p.process, { autoStart: true });
  q.add('a');
  await flush();
  q.add('a'); // dirty
  const s = q.shutdown(1_000);
  p.release('a');
  assert.equal(await s, true);
  await flush();
  assert.deepEqual(p.calls, ['a']);
});

test('thousands of waiting keys run once each, in the order they were added', async () => {
  const seen: string[] = [];
  const q = new WorkQueue(async (k) => void seen.push(k), { concurrency: 3 });
  const keys = Array.from({ length: 5_000 }, (_, i) => `ns/k${i}`);
  for (const k of keys) q.add(k);
  for (const k of keys.slice(0, 100)) q.add(k); // still waiting: no-ops
  assert.equal(q.depth(), 5_000);
  q.start();
  for (let i = 0; i < 20_000 && seen.length < keys.length; i++) await flush(1);
  await flush();
  assert.deepEqual(seen, keys);
  assert.equal(q.depth(), 0);
  assert.equal(q.inFlight(), 0);
  q.add('ns/k0');
  await flush();
  assert.equal(seen.length, 5_001, 'a processed key can be added again');
});

test('many delayed keys each run once, when their earliest delay has passed', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const ran = new Map<string, number[]>();
  const q = new WorkQueue(async (k) => void ran.set(k, [...(ran.get(k) ?? []), Date.now()]), { concurrency: 8, autoStart: true });
  const random = mulberry32(7);
  const due = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const key = `k${i % 200}`; // a third of the keys get a second delay, earlier or later
    const ms = 1 + Math.floor(random() * 1_000);
    q.addAfter(key, ms);
    due.set(key, Math.min(due.get(key) ?? Infinity, ms));
  }
  assert.equal(q.delayed(), 200);
  for (let ms = 0; ms <= 1_100; ms++) {
    t.mock.timers.tick(1);
    await flush(1);
  }
  await flush();
  assert.equal(q.delayed(), 0);
  for (const [key, at] of due) assert.deepEqual(ran.get(key), [at], `${key} once, at ${at} ms`);
  await q.shutdown(0);
});
