// No ambient authority, end to end: the real controller (CLI, child process) against the real
// API server, with the admission policy, RBAC users and the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { installApi, grantEditorRole } from '../support/install.ts';
import { revokeEditorRole } from '../support/install.ts';
import { kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/agent-machine.js', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'am-governance-'));
const auditLog = path.join(dir, 'audit.jsonl');
const id = suffix();
const PROFILE = `gov-personal-${id}`;
const TOOL = `mcp.github-${id}`;
let ns = '';
let controller: ControllerProcess;

const profile = (name: string) => testProfile(name, { network: { mode: 'open' } });
const ML_TEAM = 'agent-machine:ml-team';

function grant(name: string, delegator: string, opts: { tool?: string; profile?: string; expiresAt?: string } = {}) {
  const tool = opts.tool ?? TOOL;
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: opts.profile ?? PROFILE },
      tool,
      authority: authority(delegator, ['agent_machine.tool_grant.apply', `tool:${tool}`], opts.expiresAt),
    },
  };
}

const grantState = async (name: string): Promise<any> => (await getObject('ToolGrantRecord', name, ns))?.status;
const waitState = (name: string, state: string, timeoutMs = 15_000) =>
  eventually(`${name} ${state}`, async () => ((await grantState(name))?.state === state ? grantState(name) : undefined), timeoutMs);
const readyCondition = (status: any) => status?.conditions?.find((c: any) => c.type === 'Ready');
const auditEntries = () => readFileSync(auditLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  await installApi();
  ns = await createNamespace('governance');
  for (const user of ['alice', 'bob', 'gitops-broker', 'carol']) await grantEditorRole(user);
  // alice may use the profile and grant the tool; bob may do neither.
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: `gov-delegator-${id}` },
    rules: [
      { apiGroups: ['agentmachine.sourceos.dev'], resources: ['agentmachineprofiles'], verbs: ['use'] },
      { apiGroups: ['agentmachine.sourceos.dev'], resources: ['tools'], verbs: ['grant'], resourceNames: [TOOL] },
    ],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `gov-delegator-${id}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
    subjects: [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' },
      // carol holds the same rights only as a member of this group.
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: ML_TEAM },
    ],
  };
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }) });
  controller = await startControllerProcess({ auditLogPath: auditLog });
  assert.equal((await createAs('alice', profile(PROFILE))).code, 0);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
  // Later files rely on the shared users bob and carol having no rights (outputs.test.ts: who may
  // not read outputs cannot fetch them): take back what this file gave.
  for (const user of ['bob', 'carol', 'gitops-broker']) await revokeEditorRole(user);
});

test('a delegator without RBAC for the tool: the grant ends Denied, naming the missing permission', async () => {
  assert.equal((await createAs('bob', grant('bob-grant', 'bob'))).code, 0);
  const status = await waitState('bob-grant', 'Denied');
  const ready = readyCondition(status);
  assert.equal(ready.reason, 'PermissionDenied');
  assert.match(ready.message, /user "bob" may not use agentmachineprofiles/);
  assert.equal(status.conditions.find((c: any) => c.type === 'Authorized').status, 'False');
  // kstatus (Flux wait, kpt) sees it as Failed: Stalled=True, not Reconciling.
  await kubectl(['wait', '--for=condition=Stalled', '--timeout=5s', '-n', ns, 'toolgrantrecord/bob-grant']);
  await kubectl(['wait', '--for=condition=Reconciling=False', '--timeout=5s', '-n', ns, 'toolgrantrecord/bob-grant']);
});

test('a delegator with RBAC: the grant becomes Active, with its apply command audited', async () => {
  assert.equal((await createAs('alice', grant('alice-grant', 'alice'))).code, 0);
  const status = await waitState('alice-grant', 'Active');
  assert.equal(readyCondition(status).status, 'True');
  for (const t of ['Reconciling', 'Stalled']) assert.equal(status.conditions.find((c: any) => c.type === t)?.status, 'False', `${t}: kstatus Current`);
  assert.equal(status.operation.operationType, 'agent_machine.tool_grant.apply');
  assert.equal(status.operation.state, 'completed');
  const uid = (await getObject('ToolGrantRecord', 'alice-grant', ns)).metadata.uid;
  assert.ok(auditEntries().some((e) => e.object.uid === uid && e.operationType === 'agent_machine.tool_grant.apply' && e.outcome === 'allowed'));
  const { stdout } = await kubectl(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=alice-grant`, '-o', 'json']);
  assert.ok(JSON.parse(stdout).items.some((e: any) => e.reason === 'Activated'), 'an Activated event');
});

test('a delegator mismatch is rejected at admission', async () => {
  const result = await createAs('bob', grant('impostor', 'alice'));
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /spec\.authority\.delegator "alice" must be the requesting user "bob"/);
  assert.equal(await getObject('ToolGrantRecord', 'impostor', ns), undefined);
});

test('RBAC bound to a group counts when the delegation records the group admission saw', async () => {
  // carol's only RBAC is her group's binding (before()): without the group recorded, the
  // controller's access review cannot see it.
  const carol = (name: string, groups?: string[]) => {
    const g = grant(name, 'carol');
    if (groups) (g.spec.authority as Record<string, unknown>).groups = groups;
    return g;
  };
  assert.equal((await createAs('carol', carol('carol-no-groups'))).code, 0);
  const denied = await waitState('carol-no-groups', 'Denied');
  assert.equal(readyCondition(denied).reason, 'PermissionDenied');
  assert.match(readyCondition(denied).message, /the delegation records no groups \(spec\.authority\.groups\)/);

  assert.equal((await createAs('carol', carol('carol-grouped', [ML_TEAM]))).code, 0);
  await waitState('carol-grouped', 'Active');

  // Groups are what admission saw: claiming one the requester is not in is rejected.
  const claimed = await createAs('carol', carol('carol-claims', [ML_TEAM, 'agent-machine:admins']));
  assert.notEqual(claimed.code, 0);
  assert.match(claimed.stderr, /spec\.authority\.groups may name only groups the requesting user "carol" is in \(kubectl auth whoami\); not: agent-machine:admins/);
  const bobGrouped = grant('bob-grouped', 'bob');
  (bobGrouped.spec.authority as Record<string, unknown>).groups = [ML_TEAM];
  const impostor = await createAs('bob', bobGrouped);
  assert.notEqual(impostor.code, 0);
  assert.match(impostor.stderr, /not: agent-machine:ml-team/);
  assert.equal(await getObject('ToolGrantRecord', 'bob-grouped', ns), undefined);
});

test('a broker group member may apply on behalf of a delegator', async () => {
  assert.equal((await createAs('gitops-broker', grant('brokered', 'alice'))).code, 0);
  await waitState('brokered', 'Active');
});

test('an already expired delegation: Denied with AuthorityExpired', async () => {
  assert.equal((await createAs('alice', grant('expired', 'alice', { expiresAt: '2020-01-01T00:00:00Z' }))).code, 0);
  const status = await waitState('expired', 'Denied');
  assert.equal(readyCondition(status).reason, 'AuthorityExpired');
});

test('revocation: Revoked within 2 s, audited as agent_machine.tool_grant.revoke', async () => {
  await waitState('alice-grant', 'Active');
  const started = Date.now();
  await kubectl(['patch', 'toolgrantrecord', 'alice-grant', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { revoked: true, revocationReason: 'test revocation' } })], { user: 'alice' });
  const status = await waitState('alice-grant', 'Revoked', 2_000);
  const ms = Date.now() - started;
  assert.ok(ms <= 2_000, `took ${ms} ms`);
  assert.equal(status.operation.operationType, 'agent_machine.tool_grant.revoke');
  assert.ok(status.revokedAt);
  const uid = (await getObject('ToolGrantRecord', 'alice-grant', ns)).metadata.uid;
  assert.ok(auditEntries().some((e) => e.object.uid === uid && e.operationType === 'agent_machine.tool_grant.revoke' && e.outcome === 'revoked'));
  // un-revoking is refused by the API server
  const undo = await kubectl(['patch', 'toolgrantrecord', 'alice-grant', '-n', ns, '--type=merge', '-p', '{"spec":{"revoked":false}}'], { user: 'alice', check: false });
  assert.notEqual(undo.code, 0);
  assert.match(undo.stderr, /cannot be un-revoked/);
});

test('deleting a grant is audited as a revocation before the object goes', async () => {
  assert.equal((await createAs('alice', grant('to-delete', 'alice'))).code, 0);
  await waitState('to-delete', 'Active');
  const uid = (await getObject('ToolGrantRecord', 'to-delete', ns)).metadata.uid;
  await kubectl(['delete', 'toolgrantrecord', 'to-delete', '-n', ns, '--timeout=15s'], { user: 'alice' });
  assert.equal(await getObject('ToolGrantRecord', 'to-delete', ns), undefined);
  assert.ok(auditEntries().some((e) => e.object.uid === uid && e.operationType === 'agent_machine.tool_grant.revoke'));
});

test('a profile deleted under active grants: held while they hold it (naming them), nothing new admitted; once it goes, what names it fails closed', async () => {
  const other = `gov-other-${id}`;
  assert.equal((await createAs('alice', profile(other))).code, 0);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${other}`]);
  assert.equal((await createAs('alice', grant('orphan', 'alice', { profile: other }))).code, 0);
  await waitState('orphan', 'Active');
  await kubectl(['delete', 'agentmachineprofile', other, '--wait=false'], { user: 'alice' });
  const held = await eventually('the deletion held', async () => {
    const p = await getObject<any>('AgentMachineProfile', other);
    const c = p?.status?.conditions?.find((c: any) => c.type === 'DeletionHeld' && c.status === 'True');
    if (!c) throw new Error(`profile: ${JSON.stringify({ metadata: p?.metadata, conditions: p?.status?.conditions?.map((c: any) => `${c.type}=${c.status}`) })}; controller: ${controller.logs.filter((l) => JSON.stringify(l).includes(other)).slice(-3).map((l) => JSON.stringify(l)).join(' | ')}`);
    return c;
  });
  assert.equal(held.reason, 'InUse');
  assert.match(held.message, new RegExp(`^deletion held: in use by ToolGrantRecord ${ns}/orphan; `));
  const { stdout: events } = await kubectl(['get', 'events', '--all-namespaces', '--field-selector', `involvedObject.name=${other}`, '-o', 'json']);
  assert.ok(JSON.parse(events).items.some((e: any) => e.type === 'Warning' && e.reason === 'DeletionHeld' && /orphan/.test(e.note ?? e.message ?? '')), 'a Warning DeletionHeld event naming the grant');
  assert.equal((await grantState('orphan')).state, 'Active', 'what already runs keeps its profile');
  // Nothing new under a profile being deleted: a new grant waits.
  assert.equal((await createAs('alice', grant('latecomer', 'alice', { profile: other }))).code, 0);
  const late = await waitState('latecomer', 'Pending');
  assert.equal(readyCondition(late).reason, 'ProfileDeleting');
  // The grant holding it is revoked: the profile goes, and what names it fails closed.
  await kubectl(['patch', 'toolgrantrecord', 'orphan', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { revoked: true, revocationReason: 'profile retired' } })], { user: 'alice' });
  await eventually('the profile gone', async () => ((await getObject('AgentMachineProfile', other)) === undefined ? true : undefined));
  await eventually('latecomer waits for a profile not found', async () => (readyCondition(await grantState('latecomer'))?.reason === 'ProfileNotFound' ? true : undefined));
  const gone = await grantState('latecomer');
  assert.equal(readyCondition(gone).reason, 'ProfileNotFound');
  assert.match(readyCondition(gone).message, /^waiting: profile .* not found/);
  // Waiting is kstatus InProgress, not Failed: Reconciling=True, Stalled=False.
  assert.equal(gone.conditions.find((c: any) => c.type === 'Reconciling').status, 'True');
  assert.equal(gone.conditions.find((c: any) => c.type === 'Stalled').status, 'False');
});

test('a mistyped profile name: the waiting message suggests the nearest existing one', async () => {
  const typo = PROFILE.replace('personal', 'personel');
  assert.equal((await createAs('alice', grant('typo', 'alice', { profile: typo }))).code, 0);
  const status = await waitState('typo', 'Pending');
  assert.equal(readyCondition(status).reason, 'ProfileNotFound');
  assert.equal(readyCondition(status).message, `waiting: profile ${typo} not found (did you mean ${PROFILE}?): everything under it fails closed`);
});

test('the metrics endpoint exposes the operator series', async () => {
  const text = await (await fetch(controller.metricsUrl)).text();
  for (const name of [
    'agent_machine_reconcile_total',
    'agent_machine_reconcile_errors_total',
    'agent_machine_reconcile_duration_seconds',
    'agent_machine_workqueue_depth',
    'agent_machine_tool_grants',
    'agent_machine_policy_denials_total',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(text, /^agent_machine_tool_grants\{state="Denied"\} [1-9]/m);
  assert.match(text, /^agent_machine_policy_denials_total\{gate="authority"\} [1-9]/m);
});

test('the audit chain verifies with the CLI, and a tampered line is detected', async () => {
  const ok = await run(process.execPath, [BIN, 'audit', 'verify', '--file', auditLog]);
  assert.match(ok.stdout, /chain intact, \d+ entries/);
  const lines = readFileSync(auditLog, 'utf8').split('\n');
  lines[1] = lines[1]!.replace(/"actor":"[^"]+"/, '"actor":"mallory"');
  const tampered = path.join(dir, 'tampered.jsonl');
  writeFileSync(tampered, lines.join('\n'));
  const bad = await run(process.execPath, [BIN, 'audit', 'verify', '--file', tampered]).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  assert.ok(bad, 'verify must fail on a tampered log');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /BROKEN at line 2/);
});
