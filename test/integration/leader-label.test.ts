// The gateway Service routes to the leader only: the leading replica labels its Pod
// agentmachine.sourceos.dev/leader=true, a standby never has it, and the label moves when the
// leader goes away. Pods here are plain API objects (the test control plane has no kubelet);
// the controllers find theirs through POD_NAME / POD_NAMESPACE as the Deployment's downward API
// sets them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installApi } from '../support/install.ts';
import { startControllerProcess } from '../support/controller-process.ts';
import { admin, createNamespace, eventually } from '../support/objects.ts';
import { LEADER_LABEL } from '../../src/controller/leader-pod-label.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-leader-label-'));
let ns = '';

before(async () => {
  await installApi();
  ns = await createNamespace('leader-label');
  for (const name of ['replica-a', 'replica-b']) {
    await admin.core.createNamespacedPod({
      namespace: ns,
      // A stale label, as a leader that lost the lease and restarted would still carry.
      body: { metadata: { name, labels: { app: 'agent-machine', ...(name === 'replica-b' ? { [LEADER_LABEL]: 'true' } : {}) } }, spec: { containers: [{ name: 'controller', image: 'localhost/agent-machine:dev' }] } },
    });
  }
});

const leaderLabel = async (name: string) => (await admin.core.readNamespacedPod({ name, namespace: ns })).metadata?.labels?.[LEADER_LABEL];

test('only the leading replica\'s Pod carries the leader label; it moves to the standby when the leader goes', async () => {
  const fast = ['--leader-elect-lease-duration', '3', '--leader-elect-renew-deadline', '2', '--leader-elect-retry-period', '0.5', '--leader-election-namespace', ns];
  const a = await startControllerProcess({ auditLogPath: path.join(dir, 'a.jsonl'), leaderElect: true, args: fast, env: { POD_NAME: 'replica-a', POD_NAMESPACE: ns } });
  await a.waitForLog((l) => l.msg === 'controllers started');
  const b = await startControllerProcess({ auditLogPath: path.join(dir, 'b.jsonl'), leaderElect: true, args: fast, env: { POD_NAME: 'replica-b', POD_NAMESPACE: ns } });
  try {
    await b.waitForLog((l) => l.msg === 'caches synced');
    await eventually('replica-a labelled leader', async () => (await leaderLabel('replica-a')) === 'true');
    assert.equal(await leaderLabel('replica-b'), undefined, 'a starting replica drops a stale leader label');
    await a.kill('SIGTERM');
    assert.equal(await leaderLabel('replica-a'), undefined, 'a leader shutting down gives the label up');
    await b.waitForLog((l) => l.msg === 'controllers started', 15_000);
    await eventually('replica-b labelled leader', async () => (await leaderLabel('replica-b')) === 'true');
  } finally {
    await a.kill('SIGTERM').catch(() => undefined);
    await b.kill('SIGTERM');
  }
});
