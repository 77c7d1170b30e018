// The event subscription's own logic: line framing, reconnects, resume point, unsubscribe.
// The engine side is a stand-in that hands out PassThrough streams (the real podman stream is
// exercised in test/integration/runtime-docker.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { JsonLines, subscribeEngineEvents } from '../../../../src/runtimes/docker/engine-events.ts';
import type { EngineEvent } from '../../../../src/runtimes/docker/engine-events.ts';
import { silentLogger } from '../../../../src/observability/logger.ts';

test('JsonLines: objects split across chunks, several per chunk, blank and malformed lines', () => {
  const lines = new JsonLines();
  const values: unknown[] = [];
  const bad: string[] = [];
  const push = (c: string | Buffer) => lines.push(c, (v) => values.push(v), (l) => bad.push(l));
  push('{"a":');
  assert.deepEqual(values, []);
  push('1}\n{"b":2}\n\n{"c"');
  assert.deepEqual(values, [{ a: 1 }, { b: 2 }]);
  assert.equal(lines.pending, '{"c"');
  push(':3}\nnot json\n');
  assert.deepEqual(values, [{ a: 1 }, { b: 2 }, { c: 3 }]);
  assert.deepEqual(bad, ['not json']);
  // A multibyte character split between chunks.
  const euro = Buffer.from('{"x":"€"}\n');
  push(euro.subarray(0, 7));
  push(euro.subarray(7));
  assert.deepEqual(values.at(-1), { x: '€' });
});

interface Call {
  opts: { filters: Record<string, string[]>; since?: number };
  stream?: PassThrough;
}

/** A getEvents that fails `failFirst` times, then hands out streams the test controls. */
function engine(failFirst = 0) {
  const calls: Call[] = [];
  let failures = failFirst;
  const docker = {
    getEvents: async (opts: Call['opts']) => {
      const call: Call = { opts };
      calls.push(call);
      if (failures-- > 0) throw Object.assign(new Error('connect ECONNREFUSED /x.sock'), { code: 'ECONNREFUSED' });
      call.stream = new PassThrough();
      return call.stream;
    },
  } as unknown as Dockerode;
  return { docker, calls };
}

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('delivers events, reconnects after the stream ends, resuming from the last event time', async () => {
  const { docker, calls } = engine();
  const seen: EngineEvent[] = [];
  const unsubscribe = subscribeEngineEvents({ docker, filters: { type: ['container'] }, onEvent: (e) => seen.push(e), logger: silentLogger(), minBackoffMs: 10, maxBackoffMs: 40 });
  try {
    await until(() => calls.length === 1 && calls[0]!.stream !== undefined);
    assert.equal(calls[0]!.opts.since, undefined);
    assert.deepEqual(calls[0]!.opts.filters, { type: ['container'] });
    const s = calls[0]!.stream!;
    s.write('{"Action":"start","time":1700000000,"Actor":{"Attributes":{"k":"v"}}}\n{"Action":"di');
    s.write('e","time":1700000005}\n');
    await until(() => seen.length === 2);
    assert.deepEqual(
      seen.map((e) => e.Action),
      ['start', 'die'],
    );
    s.end();
    await until(() => calls.length === 2 && calls[1]!.stream !== undefined);
    assert.equal(calls[1]!.opts.since, 1700000005, 'replays what it may have missed');
  } finally {
    unsubscribe();
  }
});

test('retries with backoff while the engine is down, and a throwing handler does not break the stream', async () => {
  const { docker, calls } = engine(3);
  const seen: string[] = [];
  let connected = 0;
  const unsubscribe = subscribeEngineEvents({
    docker,
    filters: {},
    onEvent: (e) => {
      seen.push(e.Action ?? '');
      throw new Error('handler bug');
    },
    logger: silentLogger(),
    minBackoffMs: 10,
    maxBackoffMs: 20,
    onConnected: () => connected++,
  });
  try {
    await until(() => calls.length === 4 && calls[3]!.stream !== undefined);
    assert.equal(connected, 1);
    calls[3]!.stream!.write('{"Action":"a"}\n{"Action":"b"}\n');
    await until(() => seen.length === 2);
    // Connected after failures but no event yet: resumes from the connect time, not from 0.
    calls[3]!.stream!.destroy(new Error('socket hang up'));
    await until(() => calls.length === 5);
    assert.equal(typeof calls[4]!.opts.since, 'number');
  } finally {
    unsubscribe();
  }
});

test('unsubscribe closes the stream and stops reconnecting', async () => {
  const { docker, calls } = engine();
  const unsubscribe = subscribeEngineEvents({ docker, filters: {}, onEvent: () => {}, logger: silentLogger(), minBackoffMs: 5, maxBackoffMs: 5 });
  await until(() => calls[0]?.stream !== undefined);
  unsubscribe();
  assert.equal(calls[0]!.stream!.destroyed, true);
  await sleep(50);
  assert.equal(calls.length, 1);

  // Unsubscribed while the engine was down: the pending retry is cancelled.
  const down = engine(100);
  const stop = subscribeEngineEvents({ docker: down.docker, filters: {}, onEvent: () => {}, logger: silentLogger(), minBackoffMs: 5, maxBackoffMs: 5 });
  await until(() => down.calls.length >= 2);
  stop();
  const n = down.calls.length;
  await sleep(50);
  assert.ok(down.calls.length <= n + 1);
});
