// Lease-based leader election against a real kube-apiserver: two electors in one process on
// the same Lease, with short timings. Renew failures are real network failures (a TCP proxy
// in front of the API server that stops forwarding), not a faked client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LeaderElector } from '../../src/operator/leader-election.ts';
import type { LeaderElectionOptions } from '../../src/operator/leader-election.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import type { KubeClients } from '../../src/operator/kube-clients.ts';
import { LEASES } from '../../src/operator/resource.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { adminKubeConfig } from '../support/integration-env.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const admin = createKubeClients(adminKubeConfig());
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const NS = 'default';
const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };

interface Lease {
  metadata?: { resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number };
}
const readLease = (name: string) => admin.request<Lease>({ method: 'GET', path: LEASES.apiPath(NS, name) });

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

/** An elector plus timestamps of its callbacks. */
function candidate(clients: KubeClients, lease: string, identity: string, extra: Partial<LeaderElectionOptions> = {}) {
  const record = { startedAt: 0, stoppedAt: 0 };
  const elector = new LeaderElector(clients, {
    namespace: NS,
    name: lease,
    identity,
    ...TIMING,
    logger,
    onStartedLeading: () => (record.startedAt = Date.now()),
    onStoppedLeading: () => (record.stoppedAt = Date.now()),
    ...extra,
  });
  return { elector, record };
}

const leaseName = () => `op-le-${randomBytes(3).toString('hex')}`;

test('only one of two candidates leads; the Lease names it', async (t) => {
  const name = leaseName();
  const a = candidate(admin, name, 'a');
  const b = candidate(admin, name, 'b');
  a.elector.start();
  b.elector.start();
  t.after(() => Promise.all([a.elector.stop(), b.elector.stop()]));
  await eventually(() => a.elector.isLeader() || b.elector.isLeader(), 5_000, 'a leader');
  const until = Date.now() + 2_000;
  while (Date.now() < until) {
    assert.ok(!(a.elector.isLeader() && b.elector.isLeader()), 'two leaders at once');
    await new Promise((r) => setTimeout(r, 50));
  }
  const leader = a.elector.isLeader() ? a : b;
  const standby = leader === a ? b : a;
  assert.ok(leader.elector.isLeader() && !standby.elector.isLeader(), 'leadership stays put while renewed');
  const lease = await readLease(name);
  assert.equal(lease.spec?.holderIdentity, leader.elector.identity);
  assert.equal(lease.spec?.leaseDurationSeconds, 3);
  assert.equal(standby.elector.currentLeader(), leader.elector.identity);
  assert.equal(standby.record.startedAt, 0);
});

test('when the leader dies without releasing, the standby takes over after leaseDuration, not before', async (t) => {
  const name = leaseName();
  const a = candidate(admin, name, 'a');
  a.elector.start();
  await eventually(() => a.elector.isLeader(), 5_000, 'a leads');
  const b = candidate(admin, name, 'b');
  b.elector.start();
  t.after(() => Promise.all([a.elector.stop({ release: false }), b.elector.stop()]));
  await new Promise((r) => setTimeout(r, 1_000)); // b has observed a's renewals

  const diedAt = Date.now();
  await a.elector.stop({ release: false }); // a crash, as far as the Lease can tell
  await eventually(() => b.elector.isLeader(), TIMING.leaseDurationMs + 3_000, 'b takes over');
  const took = b.record.startedAt - diedAt;
  t.diagnostic(`takeover ${took} ms after the leader stopped renewing (leaseDuration ${TIMING.leaseDurationMs} ms)`);
  // b may have seen a's last renewal up to one retry period before a stopped.
  assert.ok(took >= TIMING.leaseDurationMs - 2 * TIMING.retryPeriodMs, `took over too early: ${took} ms`);
  assert.ok(took <= TIMING.leaseDurationMs + 3 * TIMING.retryPeriodMs, `took over too late: ${took} ms`);
  assert.equal(a.record.stoppedAt, 0, 'a graceful stop is not a loss');
  const lease = await readLease(name);
  assert.equal(lease.spec?.holderIdentity, 'b');
  assert.equal(lease.spec?.leaseTransitions, 1);
});

test('a released lease is taken over at the standby\'s next retry', async (t) => {
  const name = leaseName();
  const a = candidate(admin, name, 'a');
  a.elector.start();
  await eventually(() => a.elector.isLeader(), 5_000, 'a leads');
  const b = candidate(admin, name, 'b');
  b.elector.start();
  t.after(() => Promise.all([a.elector.stop(), b.elector.stop()]));
  await new Promise((r) => setTimeout(r, 500));

  const releasedAt = Date.now();
  await a.elector.stop(); // graceful: releases
  assert.equal(a.elector.isLeader(), false);
  const released = await readLease(name);
  assert.ok(released.spec?.holderIdentity === '' || released.spec?.holderIdentity === 'b', 'holder cleared');
  await eventually(() => b.elector.isLeader(), 2_000, 'b takes over');
  const took = b.record.startedAt - releasedAt;
  t.diagnostic(`takeover ${took} ms after release`);
  assert.ok(took < TIMING.leaseDurationMs / 2, `release should make takeover fast, took ${took} ms`);
});

test('a leader that cannot renew gives up after renewDeadline, before anyone else may take over', async (t) => {
  const name = leaseName();
  const proxy = new TcpProxy(adminKubeConfig());
  await proxy.listen();
  t.after(() => proxy.down());
  const a = candidate(createKubeClients(proxy.kubeConfig()), name, 'a');
  a.elector.start();
  await eventually(() => a.elector.isLeader(), 5_000, 'a leads');
  const b = candidate(admin, name, 'b');
  b.elector.start();
  t.after(() => Promise.all([a.elector.stop(), b.elector.stop()]));
  await new Promise((r) => setTimeout(r, 500));

  const cutAt = Date.now();
  await proxy.down(); // a's renewals now fail with connection refused
  await eventually(() => a.record.stoppedAt > 0, TIMING.renewDeadlineMs + 2_000, 'a notices the loss');
  assert.equal(a.elector.isLeader(), false);
  await eventually(() => b.elector.isLeader(), TIMING.leaseDurationMs + 2_000, 'b takes over');
  t.diagnostic(`a gave up ${a.record.stoppedAt - cutAt} ms after the cut; b led ${b.record.startedAt - cutAt} ms after it`);
  assert.ok(a.record.stoppedAt <= cutAt + TIMING.renewDeadlineMs + TIMING.retryPeriodMs + 200, 'a gave up in time');
  assert.ok(a.record.stoppedAt < b.record.startedAt, 'never two leaders: a stopped before b started');
});

test('a leader that sees another holder in the Lease stops leading at once', async (t) => {
  const name = leaseName();
  const a = candidate(admin, name, 'a');
  a.elector.start();
  t.after(() => a.elector.stop());
  await eventually(() => a.elector.isLeader(), 5_000, 'a leads');
  const lease = await readLease(name);
  await admin.request({
    method: 'PUT',
    path: LEASES.apiPath(NS, name),
    body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', renewTime: new Date().toISOString().replace('Z', '000Z') } },
  });
  const ms = await eventually(() => a.record.stoppedAt > 0, TIMING.retryPeriodMs * 4, 'a steps down');
  t.diagnostic(`stepped down ${ms} ms after the lease was taken`);
  assert.equal(a.elector.isLeader(), false);
});

test('invalid timings are rejected', () => {
  assert.throws(() => new LeaderElector(admin, { namespace: NS, name: 'x', leaseDurationMs: 2_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 }), /leaseDuration > renewDeadline/);
});

