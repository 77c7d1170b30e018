// Manager + Controller end to end against a real kube-apiserver: informers sync, one of two
// managers leads and reconciles, the standby is ready but idle, graceful shutdown drains and
// hands over through the Lease, and a lost lease exits the process (recorded, not real here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Controller, ownerKeys } from '../../src/operator/controller.ts';
import { Informer } from '../../src/operator/informer.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { Manager } from '../../src/operator/manager.ts';
import { CONFIG_MAPS, LEASES, SECRETS } from '../../src/operator/resource.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { adminKubeConfig } from '../support/integration-env.ts';

const clients = createKubeClients(adminKubeConfig());
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

/** A manager with one ConfigMap controller (Secrets map to their owning ConfigMap). */
function replica(ns: string, lease: string, identity: string, opts: { slowKey?: string } = {}) {
  const reconciled: string[] = [];
  const finished: string[] = [];
  const exits: number[] = [];
  const metrics = createMetrics();
  const configMaps = new Informer(clients, CONFIG_MAPS, { namespace: ns, logger });
  const secrets = new Informer(clients, SECRETS, { namespace: ns, logger });
  const controller = new Controller({
    kind: 'ConfigMap',
    informer: configMaps,
    watches: [{ informer: secrets, map: ownerKeys('ConfigMap', true) }],
    logger,
    metrics,
    reconcile: async (key) => {
      reconciled.push(key);
      if (key === opts.slowKey) await new Promise((r) => setTimeout(r, 800));
      if (!configMaps.get(key)) return; // deleted: nothing to do
      if (key.endsWith('/fails')) throw new Error('reconcile failure for the test');
      finished.push(key);
    },
  });
  const manager = new Manager({
    clients,
    logger,
    metrics,
    health: { port: 0 },
    leaderElection: { namespace: ns, name: lease, identity, ...TIMING },
    handleSignals: false,
    shutdownTimeoutMs: 5_000,
    exit: (code) => exits.push(code),
  });
  manager.add(controller);
  return { manager, controller, reconciled, finished, exits, metrics };
}

test('leader reconciles, standby is ready but idle; shutdown drains, releases, and the standby takes over', async (t) => {
  const ns = `op-mgr-${randomBytes(3).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name: ns } } });
  t.after(() => clients.core.deleteNamespace({ name: ns }).catch(() => {}));
  const parent = await clients.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'parent' } } });
  await clients.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'slow' } } });

  const a = replica(ns, 'mgr', 'replica-a', { slowKey: `${ns}/slow` });
  await a.manager.start();
  t.after(() => a.manager.shutdown());
  assert.ok(a.manager.healthUrl);
  assert.equal((await fetch(`${a.manager.healthUrl}/readyz`)).status, 200);
  assert.equal((await fetch(`${a.manager.healthUrl}/healthz`)).status, 200);
  await eventually(() => a.manager.isLeader(), 5_000, 'a leads');
  await eventually(() => a.finished.includes(`${ns}/parent`) && a.finished.includes(`${ns}/slow`), 5_000, 'initial reconciles');

  const b = replica(ns, 'mgr', 'replica-b');
  await b.manager.start();
  t.after(() => b.manager.shutdown());
  assert.equal((await fetch(`${b.manager.healthUrl}/readyz`)).status, 200, 'a standby with synced caches is ready');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(b.manager.isLeader(), false);
  assert.deepEqual(b.reconciled, [], 'the standby does not reconcile');

  // Related objects map to their owner's key. (Counted before the create: the watch event
  // can be handled before the create call's response is.)
  const before = a.reconciled.filter((k) => k === `${ns}/parent`).length;
  await clients.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'child', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'parent', uid: parent.metadata!.uid! }] },
      stringData: { k: 'v' },
    },
  });
  await eventually(() => a.reconciled.filter((k) => k === `${ns}/parent`).length > before, 5_000, 'owner reconciled for its Secret');

  // A failing reconcile is retried and counted, and does not crash anything.
  await clients.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'fails' } } });
  await eventually(() => a.reconciled.filter((k) => k === `${ns}/fails`).length >= 3, 5_000, 'retries of the failing key');
  const metrics = await (await fetch(`${a.manager.healthUrl}/metrics`)).text();
  assert.match(metrics, /agent_machine_reconcile_total\{kind="ConfigMap",result="success"\} [1-9]/);
  assert.match(metrics, /agent_machine_reconcile_errors_total\{kind="ConfigMap"\} [1-9]/);
  assert.match(metrics, /agent_machine_workqueue_depth\{kind="ConfigMap"\} \d/);
  await clients.core.deleteNamespacedConfigMap({ namespace: ns, name: 'fails' });

  // Graceful shutdown while a reconcile is in flight: it finishes, then the lease is released.
  const slowRuns = a.finished.filter((k) => k === `${ns}/slow`).length;
  const slowStarts = a.reconciled.filter((k) => k === `${ns}/slow`).length;
  await clients.core.patchNamespacedConfigMap({ namespace: ns, name: 'slow', body: [{ op: 'add', path: '/data', value: { v: '2' } }] });
  await eventually(() => a.reconciled.filter((k) => k === `${ns}/slow`).length > slowStarts, 5_000, 'slow reconcile started');
  const shutdownAt = Date.now();
  const shutdown = a.manager.shutdown();
  assert.equal(a.manager.isReady(), false, 'not ready once shutdown starts');
  await shutdown;
  assert.equal(a.finished.filter((k) => k === `${ns}/slow`).length, slowRuns + 1, 'the in-flight reconcile completed');
  assert.deepEqual(a.exits, [], 'shutdown() itself does not exit');
  const lease = await clients.request<{ spec?: { holderIdentity?: string } }>({ method: 'GET', path: LEASES.apiPath(ns, 'mgr') });
  assert.ok(lease.spec?.holderIdentity !== 'replica-a', 'lease released');

  await eventually(() => b.manager.isLeader(), 2_000, 'b takes over after the release');
  t.diagnostic(`standby leading ${Date.now() - shutdownAt} ms after shutdown began`);
  await eventually(() => b.finished.includes(`${ns}/parent`) && b.finished.includes(`${ns}/slow`), 5_000, 'b reconciles everything it queued while waiting');
});

test('a manager whose lease is taken away exits with 1 and reports unhealthy', async (t) => {
  const ns = `op-mgr-${randomBytes(3).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name: ns } } });
  t.after(() => clients.core.deleteNamespace({ name: ns }).catch(() => {}));
  const a = replica(ns, 'mgr', 'replica-a');
  await a.manager.start();
  t.after(() => a.manager.shutdown());
  await eventually(() => a.manager.isLeader(), 5_000, 'a leads');

  const path = LEASES.apiPath(ns, 'mgr');
  const lease = await clients.request<Record<string, any>>({ method: 'GET', path });
  await clients.request({ method: 'PUT', path, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'someone-else' } } });
  await eventually(() => a.exits.length > 0, 3_000, 'exit');
  assert.deepEqual(a.exits, [1]);
  assert.equal((await fetch(`${a.manager.healthUrl}/healthz`)).status, 503);
});

test('without leader election the controllers start right after the caches sync', async (t) => {
  const ns = `op-mgr-${randomBytes(3).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name: ns } } });
  t.after(() => clients.core.deleteNamespace({ name: ns }).catch(() => {}));
  await clients.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'x' } } });
  const seen: string[] = [];
  const informer = new Informer(clients, CONFIG_MAPS, { namespace: ns, logger });
  const manager = new Manager({ clients, logger, health: false, leaderElection: false, handleSignals: false });
  manager.add(new Controller({ kind: 'ConfigMap', informer, logger, reconcile: async (k) => void seen.push(k) }));
  await manager.start();
  t.after(() => manager.shutdown());
  assert.ok(manager.isReady());
  assert.ok(manager.isLeader());
  await eventually(() => seen.includes(`${ns}/x`), 5_000, 'reconciled');
});

test('SIGTERM in a real process: drains, releases the lease, exits 0', async (t) => {
  const ns = `op-mgr-${randomBytes(3).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name: ns } } });
  t.after(() => clients.core.deleteNamespace({ name: ns }).catch(() => {}));
  const src = new URL('../../src/', import.meta.url).href;
  const program = `
    import { KubeConfig } from '@kubernetes/client-node';
    import { createKubeClients } from '${src}operator/kube-clients.ts';
    import { Informer } from '${src}operator/informer.ts';
    import { Controller } from '${src}operator/controller.ts';
    import { Manager } from '${src}operator/manager.ts';
    import { CONFIG_MAPS } from '${src}operator/resource.ts';
    import { createLogger } from '${src}observability/logger.ts';
    const kc = new KubeConfig(); kc.loadFromDefault();
    const clients = createKubeClients(kc);
    const logger = createLogger({ level: 'info' });
    const informer = new Informer(clients, CONFIG_MAPS, { namespace: '${ns}', logger });
    const manager = new Manager({ clients, logger, health: { port: 0 },
      leaderElection: { namespace: '${ns}', name: 'sig', identity: 'child', leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 200 } });
    manager.add(new Controller({ kind: 'ConfigMap', informer, logger, reconcile: async () => {} }));
    await manager.start();
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
    cwd: new URL('../../', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await eventually(() => out.includes('"controllers started"'), 15_000, 'child leads');
  child.kill('SIGTERM');
  const code = await exited;
  assert.equal(code, 0, out);
  assert.match(out, /"msg":"lease released"/);
  assert.match(out, /"msg":"shutdown complete"/);
  const lease = await clients.request<{ spec?: { holderIdentity?: string; leaseDurationSeconds?: number } }>({
    method: 'GET',
    path: LEASES.apiPath(ns, 'sig'),
  });
  assert.equal(lease.spec?.holderIdentity ?? '', '');
  assert.equal(lease.spec?.leaseDurationSeconds, 1);
});
