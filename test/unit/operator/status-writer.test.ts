// The status writer's retry policy, with a stand-in for the one request function it uses
// (what it writes and how the API server takes it is in test/integration/operator-status.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import type { KubeClients, RequestOptions } from '../../../src/operator/kube-clients.ts';
import { defineResource } from '../../../src/operator/resource.ts';
import { StatusWriter } from '../../../src/operator/status-writer.ts';

const THINGS = defineResource({ group: 'example.com', version: 'v1', plural: 'things', kind: 'Thing', namespaced: true });
const obj = { metadata: { name: 't', namespace: 'n', generation: 4 }, status: { phase: 'Old', stale: true } };

function clientsFailing(failures: unknown[]) {
  const calls: RequestOptions[] = [];
  const clients = {
    async request(opts: RequestOptions) {
      calls.push(opts);
      const next = failures.shift();
      if (next !== undefined) throw next;
      return { ...obj, status: (opts.body as { status: unknown }).status };
    },
  } as unknown as KubeClients;
  return { clients, calls };
}

const apiError = (code: number) => new ApiException(code, 'x', { message: `status ${code}` }, {});
const networkError = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
const fast = { backoff: { initialMs: 1, maxMs: 2 } };

test('sends one merge patch of the difference to /status, with observedGeneration', async () => {
  const { clients, calls } = clientsFailing([]);
  const res = await new StatusWriter(clients, fast).write(THINGS, obj, { phase: 'New' });
  assert.equal(res.outcome, 'written');
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.method, 'PATCH');
  assert.equal(calls[0]!.path, '/apis/example.com/v1/namespaces/n/things/t/status');
  assert.equal(calls[0]!.contentType, 'application/merge-patch+json');
  assert.deepEqual(calls[0]!.body, { status: { phase: 'New', stale: null, observedGeneration: 4 } });
});

test('an equal status is not written at all', async () => {
  const { clients, calls } = clientsFailing([]);
  const same = { ...obj, status: { phase: 'X', observedGeneration: 4 } };
  assert.equal((await new StatusWriter(clients).write(THINGS, same, { phase: 'X' })).outcome, 'unchanged');
  assert.equal(calls.length, 0);
});

test('409, 5xx, 429 and network errors are retried', async () => {
  const { clients, calls } = clientsFailing([apiError(409), apiError(503), apiError(429), networkError()]);
  const res = await new StatusWriter(clients, fast).write(THINGS, obj, { phase: 'New' });
  assert.equal(res.outcome, 'written');
  assert.equal(calls.length, 5);
});

test('retries are bounded: the last error is thrown', async () => {
  const { clients, calls } = clientsFailing([apiError(500), apiError(500), apiError(500), apiError(500)]);
  await assert.rejects(new StatusWriter(clients, { ...fast, maxAttempts: 3 }).write(THINGS, obj, { phase: 'New' }), (e: unknown) => e instanceof ApiException && e.code === 500);
  assert.equal(calls.length, 3);
});

test('404 is "gone"; 422 and 403 fail at once', async () => {
  assert.equal((await new StatusWriter(clientsFailing([apiError(404)]).clients, fast).write(THINGS, obj, { phase: 'New' })).outcome, 'gone');
  for (const code of [422, 403]) {
    const { clients, calls } = clientsFailing([apiError(code)]);
    await assert.rejects(new StatusWriter(clients, fast).write(THINGS, obj, { phase: 'New' }));
    assert.equal(calls.length, 1, `${code} is not retried`);
  }
});
