// `agent-machine cancel` and `revoke` against the real API server, the real controller (CLI
// child process) and real podman containers, run as the users themselves: alice cancels her
// own running execution (directly and through one of its ContainerExecutionRecords) and
// revokes her grant through `kubectl agent-machine` (kubectl finding the plugin on PATH);
// bob, with no rights, is refused and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { docker, kubeconfigPath, kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix, testProfile, testExecution } from '../support/objects.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/agent-machine.js');
const dir = mkdtempSync(path.join(tmpdir(), 'am-cli-'));
const PROFILE = `cli-personal-${suffix()}`;
const TOOL = 'mcp.github';
let ns = '';
let controller: ControllerProcess;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function collect(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, env, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The real CLI as a test user (their kubeconfig, so admission and RBAC see them). */
function cli(user: string, args: string[]): Promise<Result> {
  return collect(process.execPath, [BIN, ...args, '--kubeconfig', kubeconfigPath(user)], process.env);
}

/**
 * `kubectl agent-machine ...`: kubectl finds bin/kubectl-agent_machine on PATH. The user comes
 * from $KUBECONFIG (kubectl hands its environment to plugins; flags before the plugin name
 * would stop kubectl from looking for one). This test's Node comes first on PATH for the shim.
 */
function kubectlPlugin(user: string, args: string[]): Promise<Result> {
  const PATH = [path.join(ROOT, 'bin'), path.dirname(process.execPath), process.env.PATH].join(path.delimiter);
  return collect(process.env.KUBECTL || 'kubectl', ['agent-machine', ...args], { ...process.env, PATH, KUBECONFIG: kubeconfigPath(user) });
}

function execution(name: string, command: string) {
  return testExecution(name, ns, PROFILE, command);
}

const exOf = (name: string) => getObject<any>('LocalAgentExecution', name, ns);
const recordOf = (name: string) => getObject<any>('ContainerExecutionRecord', `${name}-agent`, ns);
const containersOf = async (recordUid: string) =>
  (await docker().listContainers({ all: true, filters: { label: [`${MANAGED_BY_LABEL}=${MANAGED_BY}`, `${RECORD_UID_LABEL}=${recordUid}`] } })).length;
const runningRecord = (name: string) =>
  eventually(`${name}: container running`, async () => {
    const rec = await recordOf(name);
    return rec?.status?.phase === 'Running' && (await containersOf(rec.metadata.uid)) === 1 ? rec : undefined;
  }, 60_000);

before(async () => {
  await installApi();
  ns = await createNamespace('cli');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  assert.equal((await createAs('alice', testProfile(PROFILE, { images: { allowedRegistries: ['localhost'] } }))).code, 0);
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl') });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
  // Both run `sleep` long past the test: only a cancel ends them.
  const created = await createAs('alice', execution('sleeper', 'sleep 600'), execution('by-record', 'sleep 600'));
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await controller?.kill('SIGTERM');
});

test('bob, with no rights, cannot cancel alice\'s execution: a clear error, exit 1, nothing changed', async () => {
  const rec = await runningRecord('sleeper');
  const r = await cli('bob', ['cancel', 'sleeper', '-n', ns, '--wait']);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^agent-machine cancel: you may not get localagentexecutions\\.agentmachine\\.sourceos\\.dev "sleeper" in namespace "${ns}": HTTP 403: .*User "bob" cannot get resource "localagentexecutions"`, 'm'));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const ex = await exOf('sleeper');
  assert.equal(ex.spec.cancel, undefined);
  assert.equal(ex.status.phase, 'Running');
  assert.equal(await containersOf(rec.metadata.uid), 1);
});

test('alice: agent-machine cancel --wait → phase Cancelled, an execution.cancel command, the container gone', async () => {
  const rec = await runningRecord('sleeper');
  const started = Date.now();
  const r = await cli('alice', ['cancel', 'sleeper', '-n', ns, '--wait', '--timeout', '60s']);
  const ms = Date.now() - started;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'localagentexecution.agentmachine.sourceos.dev/sleeper cancel requested');
  assert.match(lines[1] ?? '', /^localagentexecution\.agentmachine\.sourceos\.dev\/sleeper Cancelled \(Cancelled: cancelled; every container stopped\)$/);
  const ex = await exOf('sleeper');
  assert.equal(ex.spec.cancel, true);
  assert.equal(ex.status.phase, 'Cancelled');
  assert.equal(ex.status.operation.operationType, 'agent_machine.execution.cancel');
  assert.equal(ex.status.operation.state, 'cancelled');
  await eventually('container removed', async () => (await containersOf(rec.metadata.uid)) === 0, 10_000);
  console.log(`# cancel --wait returned after ${ms} ms`);

  // Again, through the kubectl plugin and the `kubectl get -o name` form: nothing left to do.
  const again = await kubectlPlugin('alice', ['cancel', 'localagentexecution.agentmachine.sourceos.dev/sleeper', '-n', ns]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), 'localagentexecution.agentmachine.sourceos.dev/sleeper already Cancelled: nothing to cancel');
});

test('alice: cancel cer/<record> cancels the container record and with it its execution', async () => {
  const rec = await runningRecord('by-record');
  const r = await cli('alice', ['cancel', `cer/${rec.metadata.name}`, '-n', ns, '--wait']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^containerexecutionrecord\\.agentmachine\\.sourceos\\.dev/${rec.metadata.name} Cancelled`, 'm'));
  assert.equal((await recordOf('by-record')).spec.cancel, true);
  await eventually('execution Cancelled', async () => (await exOf('by-record'))?.status?.phase === 'Cancelled', 20_000);
  await eventually('container removed', async () => (await containersOf(rec.metadata.uid)) === 0, 10_000);
});

test('alice: kubectl agent-machine revoke --wait → grant Revoked with her reason; bob is refused', async () => {
  const name = 'triage-github';
  const grant = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: ns },
    spec: { profileRef: { name: PROFILE }, tool: TOOL, authority: authority('alice', ['agent_machine.tool_grant.*', `tool:${TOOL}`]) },
  };
  assert.equal((await createAs('alice', grant)).code, 0);
  await eventually('grant Active', async () => (await getObject<any>('ToolGrantRecord', name, ns))?.status?.state === 'Active', 20_000);

  const denied = await kubectlPlugin('bob', ['revoke', name, '-n', ns]);
  assert.equal(denied.code, 1, denied.stdout);
  assert.match(denied.stderr, /^agent-machine revoke: you may not get toolgrantrecords\.agentmachine\.sourceos\.dev "triage-github" .*User "bob" cannot get/m);
  assert.equal((await getObject<any>('ToolGrantRecord', name, ns)).status.state, 'Active');

  const ref = (await kubectl(['get', 'toolgrantrecord', name, '-n', ns, '-o', 'name'], { user: 'alice' })).stdout.trim();
  assert.equal(ref, `toolgrantrecord.agentmachine.sourceos.dev/${name}`);
  const r = await kubectlPlugin('alice', ['revoke', ref, '-n', ns, '--reason', 'the triage agent is retired', '--wait']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [`${ref} revoked`, `${ref} Revoked (Revoked: revoked: the triage agent is retired)`]);
  const g = await getObject<any>('ToolGrantRecord', name, ns);
  assert.equal(g.spec.revoked, true);
  assert.equal(g.spec.revocationReason, 'the triage agent is retired');
  assert.equal(g.status.state, 'Revoked');
  assert.equal(g.status.operation.operationType, 'agent_machine.tool_grant.revoke');

  const again = await kubectlPlugin('alice', ['revoke', `tgr/${name}`, '-n', ns, '--reason', 'other']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), `${ref} already revoked (the triage agent is retired); the reason is not changed`);
});

test('errors name the problem: a missing execution, the wrong kind', async () => {
  const missing = await cli('alice', ['cancel', 'no-such-run', '-n', ns]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim(), `agent-machine cancel: localagentexecutions.agentmachine.sourceos.dev "no-such-run" in namespace "${ns}" not found`);
  const wrongKind = await cli('alice', ['revoke', 'lae/sleeper', '-n', ns]);
  assert.equal(wrongKind.code, 1);
  assert.match(wrongKind.stderr, /LocalAgentExecution sleeper: this command works on ToolGrantRecord only/);
});
