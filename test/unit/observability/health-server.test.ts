import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHealthServer } from '../../../src/observability/health-server.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';

test('serves /metrics, /healthz and /readyz on a free port', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.policyDenials.inc({ gate: 'budget' });
  let ready = false;
  const server = await startHealthServer({
    port: 0,
    registry: metrics.registry,
    readyz: () => ({ ok: ready, checks: { informers: ready } }),
  });
  t.after(() => server.close());
  assert.equal(server.host, '127.0.0.1');
  assert.ok(server.port > 0);

  const m = await fetch(`${server.url}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  assert.match(await m.text(), /agent_machine_policy_denials_total\{gate="budget"\} 1/);

  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  const notReady = await fetch(`${server.url}/readyz`);
  assert.equal(notReady.status, 503);
  assert.match(await notReady.text(), /\[-\]informers failed/);
  ready = true;
  const isReady = await fetch(`${server.url}/readyz?verbose`);
  assert.equal(isReady.status, 200);
  assert.match(await isReady.text(), /\[\+\]informers ok\nok/);
  assert.equal((await fetch(`${server.url}/nope`)).status, 404);
  assert.equal((await fetch(`${server.url}/healthz`, { method: 'POST' })).status, 405);
});

test('a readiness check that throws reports not ready instead of crashing', async (t) => {
  const server = await startHealthServer({
    port: 0,
    registry: createMetrics({ defaultMetrics: false }).registry,
    readyz: () => {
      throw new Error('bug');
    },
  });
  t.after(() => server.close());
  assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
});
