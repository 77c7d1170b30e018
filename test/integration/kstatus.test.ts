// What GitOps tools compute: every kind driven to every terminal phase by the real controller,
// then judged by the kstatus library itself (Flux's health checks, kpt; test/kstatus, built by
// scripts/kstatus-binary.sh). A state reached on purpose (Active, Ready, Succeeded, revoked,
// expired, cancelled on request) must read Current; one that cannot progress without a change
// (Denied, Invalid, Failed, cancelled by its deadline) Failed; none InProgress once settled —
// a Flux `wait: true` on a healthy repo would otherwise time out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../support/openai-test-server.ts';
import type { KindName } from '../../src/api/group.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KSTATUS = execFileSync('bash', [`${ROOT}/scripts/kstatus-binary.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const id = suffix();
const PROFILE = `ks-${id}`;
const MiB = 1024 * 1024;
let ns = '';
let controller: ControllerProcess;
let upstream: OpenAiTestServer;

interface Case {
  kind: KindName;
  name: string;
  namespaced: boolean;
  /** status.phase (status.state for a grant) it must settle in, and the Ready reason when it matters. */
  phase: string;
  reason?: string;
  kstatus: 'Current' | 'Failed';
}

function kstatusOf(objects: unknown[]): Array<{ kind: string; name: string; status: string; message: string }> {
  const out = execFileSync(KSTATUS, { input: JSON.stringify(objects), encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const grant = (name: string, expiresAt?: string) => ({
  apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
  kind: 'ToolGrantRecord',
  metadata: { name, namespace: ns },
  spec: { profileRef: { name: PROFILE }, tool: `mcp.ks-${id}`, authority: authority('alice', ['agent_machine.tool_grant.apply', `tool:mcp.ks-${id}`], expiresAt) },
});
const execution = (name: string, script: string, budget: Record<string, number> = {}) => ({
  apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
  kind: 'LocalAgentExecution',
  metadata: { name, namespace: ns },
  spec: {
    profileRef: { name: PROFILE },
    authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
    containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', script] }],
    budget: { wallClockSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 60, ...budget },
  },
});
const binding = (name: string, expiresAt?: string) => ({
  apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
  kind: 'ModelProviderBinding',
  metadata: { name, namespace: ns },
  spec: { profileRef: { name: PROFILE }, provider: 'openai-compatible', endpoint: upstream.url, model: 'test-model', owner: 'alice', authority: authority('alice', ['agent_machine.model_provider.bind'], expiresAt) },
});

before(async () => {
  await installApi();
  ns = await createNamespace('kstatus');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  upstream = await startOpenAiTestServer();
  controller = await startControllerProcess({ auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-kstatus-')), 'audit.jsonl') });
  assert.equal((await createAs('alice', testProfile(PROFILE, { network: { mode: 'open' } }))).code, 0);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${PROFILE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
  await upstream?.close();
});

test('kstatus (the library) reads every terminal phase of every kind as Current or Failed, never InProgress', { timeout: 120_000 }, async () => {
  const soon = new Date(Date.now() + 6_000).toISOString();
  const past = '2020-01-01T00:00:00Z';
  const cases: Case[] = [
    { kind: 'AgentMachineProfile', name: PROFILE, namespaced: false, phase: 'Ready', kstatus: 'Current' },
    { kind: 'AgentMachineProfile', name: `${PROFILE}-invalid`, namespaced: false, phase: 'Invalid', kstatus: 'Failed' },
    { kind: 'ToolGrantRecord', name: 'active', namespaced: true, phase: 'Active', kstatus: 'Current' },
    { kind: 'ToolGrantRecord', name: 'revoked', namespaced: true, phase: 'Revoked', kstatus: 'Current' },
    { kind: 'ToolGrantRecord', name: 'expiring', namespaced: true, phase: 'Expired', kstatus: 'Current' },
    { kind: 'ToolGrantRecord', name: 'denied', namespaced: true, phase: 'Denied', reason: 'AuthorityExpired', kstatus: 'Failed' },
    { kind: 'ModelProviderBinding', name: 'ready', namespaced: true, phase: 'Ready', kstatus: 'Current' },
    { kind: 'ModelProviderBinding', name: 'denied', namespaced: true, phase: 'Denied', kstatus: 'Failed' },
    { kind: 'LocalAgentExecution', name: 'ok', namespaced: true, phase: 'Succeeded', kstatus: 'Current' },
    { kind: 'LocalAgentExecution', name: 'fails', namespaced: true, phase: 'Failed', kstatus: 'Failed' },
    { kind: 'LocalAgentExecution', name: 'cancelled', namespaced: true, phase: 'Cancelled', reason: 'Cancelled', kstatus: 'Current' },
    { kind: 'LocalAgentExecution', name: 'deadline', namespaced: true, phase: 'Cancelled', reason: 'DeadlineExceeded', kstatus: 'Failed' },
    { kind: 'LocalAgentExecution', name: 'over-budget', namespaced: true, phase: 'Denied', kstatus: 'Failed' },
    { kind: 'ContainerExecutionRecord', name: 'ok-agent', namespaced: true, phase: 'Succeeded', kstatus: 'Current' },
    { kind: 'ContainerExecutionRecord', name: 'fails-agent', namespaced: true, phase: 'Failed', kstatus: 'Failed' },
  ];
  const invalid = testProfile(`${PROFILE}-invalid`, { rules: [{ name: 'broken', gate: 'containerExecution', expression: 'this is ((( not CEL' }] });
  const created = await createAs(
    'alice',
    invalid,
    grant('active'),
    grant('revoked'),
    grant('expiring', soon),
    grant('denied', past),
    binding('ready'),
    binding('denied', past),
    execution('ok', 'true'),
    execution('fails', 'exit 3'),
    execution('cancelled', 'sleep 60'),
    execution('deadline', 'sleep 60', { wallClockSeconds: 2 }),
    execution('over-budget', 'true', { wallClockSeconds: 100_000 }),
  );
  assert.equal(created.code, 0, created.stderr);

  const get = (c: Case) => getObject<any>(c.kind, c.name, c.namespaced ? ns : undefined);
  const phaseOf = (o: any) => o?.status?.phase ?? o?.status?.state;
  // Revoke and cancel on request once they are under way, as a user would.
  await eventually('grant revoked-to-be Active', async () => phaseOf(await getObject('ToolGrantRecord', 'revoked', ns)) === 'Active', 30_000);
  await kubectl(['patch', 'toolgrantrecord', 'revoked', '-n', ns, '--type=merge', '-p', '{"spec":{"revoked":true,"revocationReason":"done with it"}}'], { user: 'alice' });
  await eventually('execution cancelled Running', async () => phaseOf(await getObject('LocalAgentExecution', 'cancelled', ns)) === 'Running', 30_000);
  await kubectl(['patch', 'localagentexecution', 'cancelled', '-n', ns, '--type=merge', '-p', '{"spec":{"cancel":true}}'], { user: 'alice' });

  const settled = await eventually(
    'every object in its terminal phase, observed at its generation',
    async () => {
      const objs = await Promise.all(cases.map(get));
      const done = objs.every((o, i) => o && phaseOf(o) === cases[i]!.phase && o.status.observedGeneration === o.metadata.generation && (cases[i]!.reason === undefined || o.status.conditions.find((c: any) => c.type === 'Ready')?.reason === cases[i]!.reason));
      return done ? objs : undefined;
    },
    45_000,
    250,
  ).catch(async (err) => {
    const objs = await Promise.all(cases.map(get));
    throw new Error(`${err.message}: ${cases.map((c, i) => `${c.kind}/${c.name}=${phaseOf(objs[i])}/${objs[i]?.status?.conditions?.find((x: any) => x.type === 'Ready')?.reason} gen ${objs[i]?.metadata.generation} observed ${objs[i]?.status?.observedGeneration}`).join(', ')}`);
  });

  const results = kstatusOf(settled);
  for (const [i, c] of cases.entries()) {
    assert.equal(results[i]!.name, c.name);
    assert.equal(results[i]!.status, c.kstatus, `${c.kind}/${c.name} (${c.phase}${c.reason ? `/${c.reason}` : ''}): kstatus says ${results[i]!.status} "${results[i]!.message}"`);
  }
});

test('every kind waiting for a profile that is not there yet reads InProgress, never Failed', async () => {
  const missing = `missing-${id}`;
  const onMissing = <T extends { spec: Record<string, unknown> }>(o: T): T => ({ ...o, spec: { ...o.spec, profileRef: { name: missing } } });
  assert.equal((await createAs('alice', onMissing(execution('waiting', 'true')), onMissing(grant('waiting')), onMissing(binding('waiting')))).code, 0);
  const kinds: KindName[] = ['LocalAgentExecution', 'ToolGrantRecord', 'ModelProviderBinding'];
  const waiting = await eventually('every waiting object Pending at its generation', async () => {
    const objs = await Promise.all(kinds.map((k) => getObject<any>(k, 'waiting', ns)));
    return objs.every((o) => (o?.status?.phase ?? o?.status?.state) === 'Pending' && o.status.observedGeneration === o.metadata.generation) ? objs : undefined;
  });
  assert.deepEqual(kstatusOf(waiting).map((r) => `${r.kind} ${r.status}`), kinds.map((k) => `${k} InProgress`));
});
