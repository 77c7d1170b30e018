// The controller as an operator must be: a SIGKILL mid-work loses nothing, two replicas never
// both reconcile, and without the admission policy it refuses to trust any delegation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { verifyAuditLog } from '../../src/governance/audit-log.ts';
import { ADMISSION_POLICY_NAME } from '../../src/reconcilers/admission-guard.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-resilience-'));
const id = suffix();
const PROFILE = `res-personal-${id}`;
const TOOL = `mcp.res-${id}`;
let ns = '';
const running: ControllerProcess[] = [];

async function controller(auditLogPath: string, opts: { leaderElect?: boolean; args?: string[] } = {}): Promise<ControllerProcess> {
  const c = await startControllerProcess({ auditLogPath, ...opts });
  running.push(c);
  return c;
}

function grant(name: string) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: ns },
    spec: { profileRef: { name: PROFILE }, tool: TOOL, authority: authority('alice', ['agent_machine.tool_grant.apply', `tool:${TOOL}`]) },
  };
}

const state = async (name: string) => (await getObject('ToolGrantRecord', name, ns))?.status?.state as string | undefined;
const entries = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  await installApi();
  ns = await createNamespace('resilience');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  const profile = testProfile(PROFILE);
  assert.equal((await createAs('alice', profile)).code, 0);
});

after(async () => {
  await Promise.all(running.map((c) => c.kill('SIGKILL')));
});

test('a controller SIGKILLed mid-batch and restarted loses nothing: every grant decided, each apply audited, chain intact', async () => {
  const auditLog = path.join(dir, 'restart.jsonl');
  const first = await controller(auditLog);
  const names = Array.from({ length: 20 }, (_, i) => `batch-${i}`);
  assert.equal((await createAs('alice', ...names.map(grant))).code, 0);
  // Kill as soon as the first grants are being decided: the rest are mid-flight or queued.
  await first.waitForLog((l) => l.msg === 'reconciled' || l.controller === 'ToolGrantRecord', 20_000).catch(() => undefined);
  await first.kill('SIGKILL');
  const before = names.length;
  const second = await controller(auditLog);
  await eventually('all 20 grants Active', async () => (await Promise.all(names.map(state))).every((s) => s === 'Active'), 30_000);
  await second.kill('SIGTERM');
  const uids = await Promise.all(names.map(async (n) => (await getObject('ToolGrantRecord', n, ns)).metadata.uid as string));
  const applied = new Set(entries(auditLog).filter((e) => e.operationType === 'agent_machine.tool_grant.apply' && e.outcome === 'allowed').map((e) => e.object.uid));
  for (const uid of uids) assert.ok(applied.has(uid), `apply of ${uid} audited`);
  assert.equal(uids.length, before);
  const verified = await verifyAuditLog(auditLog);
  assert.ok(verified.ok, verified.problem);
});

test('two replicas: exactly one leads and reconciles; when it dies the other takes over and finishes the work', async () => {
  const fast = ['--leader-elect-lease-duration', '3', '--leader-elect-renew-deadline', '2', '--leader-elect-retry-period', '0.5'];
  const leaseNs = 'agent-machine-system';
  const a = await controller(path.join(dir, 'a.jsonl'), { leaderElect: true, args: fast });
  await a.waitForLog((l) => l.msg === 'controllers started');
  const b = await controller(path.join(dir, 'b.jsonl'), { leaderElect: true, args: fast });
  await b.waitForLog((l) => l.msg === 'caches synced');
  assert.equal((await createAs('alice', grant('led-1'))).code, 0);
  await eventually('led-1 Active', async () => (await state('led-1')) === 'Active');
  await new Promise((r) => setTimeout(r, 1_000));
  assert.ok(!b.logs.some((l) => l.msg === 'controllers started'), 'the standby must not start controllers');
  assert.equal(entries(path.join(dir, 'b.jsonl')).length, 0, 'the standby wrote nothing');
  const lease = await admin.request<any>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${leaseNs}/leases/agent-machine-controller` });
  assert.ok(String(lease.spec.holderIdentity).length > 0);

  const killedAt = Date.now();
  await a.kill('SIGKILL');
  await b.waitForLog((l) => l.msg === 'controllers started', 15_000);
  const tookOverMs = Date.now() - killedAt;
  assert.ok(tookOverMs < 3_000 + 3_000, `took over after ${tookOverMs} ms`);
  assert.equal((await createAs('alice', grant('led-2'))).code, 0);
  await eventually('led-2 Active under the new leader', async () => (await state('led-2')) === 'Active');
  assert.ok(entries(path.join(dir, 'b.jsonl')).some((e) => e.object.name === 'led-2'));
  await b.kill('SIGTERM');
});

test('without the admission policy binding, delegations are unverifiable; once restored, the grant proceeds', async () => {
  const auditLog = path.join(dir, 'unverifiable.jsonl');
  const c = await controller(auditLog);
  const saved = (await kubectl(['get', 'validatingadmissionpolicybinding', ADMISSION_POLICY_NAME, '-o', 'json'])).stdout;
  await kubectl(['delete', 'validatingadmissionpolicybinding', ADMISSION_POLICY_NAME]);
  try {
    // Give the controller's cached "policy installed" answer (10 s) time to expire.
    await new Promise((r) => setTimeout(r, 10_500));
    assert.equal((await createAs('alice', grant('unverifiable'))).code, 0);
    const status = await eventually('unverifiable Pending', async () => {
      const s = (await getObject('ToolGrantRecord', 'unverifiable', ns))?.status;
      return s?.state === 'Pending' ? s : undefined;
    });
    const ready = status.conditions.find((x: any) => x.type === 'Ready');
    assert.equal(ready.reason, 'AuthorityUnverifiable');
    assert.match(ready.message, /not installed/);
  } finally {
    const binding = JSON.parse(saved);
    delete binding.metadata.resourceVersion;
    delete binding.metadata.uid;
    delete binding.metadata.creationTimestamp;
    delete binding.metadata.managedFields;
    await kubectl(['create', '-f', '-'], { stdin: JSON.stringify(binding) });
  }
  await eventually('unverifiable Active once the policy is back', async () => (await state('unverifiable')) === 'Active', 30_000);
  await c.kill('SIGTERM');
});
