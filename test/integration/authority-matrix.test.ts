// No ambient authority, as a matrix: every operation type × every missing or bad control, on
// the real controller CLI (child process), the real API server (RBAC, admission policy) and real
// podman. Each cell starts from a valid object of its operation and breaks exactly one control,
// then asserts three things:
//   refused      the object ends Denied/Invalid with the control's reason (or the API server
//                rejects the request: those cells are "admission", the rejection is the record;
//                executions, records, grants and bindings under a profile that does not exist yet are "held":
//                Pending, waiting for it, nothing started);
//   inert        nothing started or bound: no container was ever created for it (podman's
//                event log), no container record, no gateway token Secret, the binding was never
//                probed, the bundle wrote no ConfigMap, the grant never became Active;
//   audited      the controller's hash-chained audit log has the refusal (outcome denied; queued
//                when held), and no line says it started or was allowed.
// A valid object per operation goes through the same checks the other way round (it starts,
// is probed, is exported...), so each "nothing happened" assertion is one that can fail.
// Cells that cannot apply are printed as n/a with the reason.
import { watchEngineEvents, type EngineEventLog } from '../support/engine-events.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { adminKubeConfig, docker, kubectl, sandboxImage } from '../support/integration-env.ts';
import { createObjectAs, mergePatchAs, type ApiAnswer } from '../support/api-as.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../support/openai-test-server.ts';
import { Watch } from '@kubernetes/client-node';
import { RECORD_NAME_LABEL, RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';
import { TOKEN_EXECUTION_LABEL, TOKEN_SELECTOR } from '../../src/gateway/tokens.ts';
import type { KindName } from '../../src/api/group.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-matrix-'));
const auditLog = path.join(dir, 'audit.jsonl');
const id = suffix();
const PROFILE = `matrix-${id}`;
const MISSING_PROFILE = `matrix-missing-${id}`;
const TOOL = `mcp.matrix-${id}`;
const MiB = 1024 * 1024;
// Identities (impersonated by the admin): one that may edit agent-machine objects but holds no
// delegable permission, one that may edit but claims someone else's delegation, one with no
// RBAC at all. alice may edit and delegate (agent-machine-delegator).
const NORBAC = `matrix-norbac-${id}`;
const IMPOSTOR = `matrix-impostor-${id}`;
const NOBODY = `matrix-nobody-${id}`;
const BROKER = 'gitops-broker';
// "bob" of this file (a name of its own: other files rely on the shared user bob having no
// rights) may delegate as alice may (agent-machine-delegator), and names her delegate, her
// grant and her user-owned binding.
const BOB = `matrix-bob-${id}`;
const OWNED_PROFILE = `matrix-owned-${id}`;
const TENANT_LABEL = 'agentmachine.sourceos.dev/tenant';
const PAST = '2020-01-01T00:00:00Z';

let ns = '';
let controller: ControllerProcess;
let gatewayUrl = '';
/** A namespace an administrator labelled with a tenant, and a controller of its own (see tenantCells). */
let tenantNs = '';
const tenantAuditLog = path.join(dir, 'tenant-audit.jsonl');
let tenantController: ControllerProcess | undefined;
let upstream: OpenAiTestServer;
let engine: EngineEventLog;
/** Executions a gateway token Secret was ever created for (watched from the start). */
const tokensMinted = new Set<string>();
let tokenWatch: AbortController | undefined;

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

const OPERATIONS = [
  'agent_machine.profile.create',
  'agent_machine.execution.start',
  'agent_machine.execution.cancel',
  'agent_machine.tool_grant.apply',
  'agent_machine.tool_grant.revoke',
  'agent_machine.container.run',
  'agent_machine.model_provider.bind',
  'agent_machine.diagnostics.export_redacted',
] as const;
type Operation = (typeof OPERATIONS)[number];

const CONTROLS = [
  'no authority',
  'delegator mismatch',
  'delegator without RBAC',
  'expired authority',
  'scope not covering',
  'budget over ceiling',
  'policy gate denying',
  'profile missing',
  // Someone else's authority borrowed by naming it: bob names alice's delegate (her grant), her
  // user-owned binding, or a grant of another tenant.
  "other delegator's grant",
  "other delegator's binding",
  "other tenant's grant",
] as const;
type Control = (typeof CONTROLS)[number];

const results = new Map<string, string>();
const cellKey = (op: Operation, control: Control) => `${op} × ${control}`;
function record(op: Operation, control: Control, result: string): void {
  results.set(cellKey(op, control), result);
}

// Cells of authority lost after the start: a row each under the grid.
const midRun = new Map<string, string>();
const BORROWED: Control[] = ["other delegator's grant", "other delegator's binding", "other tenant's grant"];

// Stops are never refused: an expired, out-of-scope or profile-less delegation only makes it
// more urgent to stop, and refusing would keep an agent running. Who may stop is RBAC's call.
const STOP = 'a stop is never refused; refusing it would keep the agent running';
const NOT_APPLICABLE: Array<[Operation, Control, string]> = [
  ['agent_machine.profile.create', 'policy gate denying', 'a profile is the policy: no gate governs its creation (a rule that does not compile makes it Invalid: hostile corpus)'],
  ['agent_machine.profile.create', 'profile missing', 'it creates the profile'],
  ['agent_machine.execution.cancel', 'expired authority', STOP],
  ['agent_machine.execution.cancel', 'scope not covering', STOP],
  ['agent_machine.execution.cancel', 'budget over ceiling', 'a cancel asks for no budget'],
  ['agent_machine.execution.cancel', 'policy gate denying', STOP],
  ['agent_machine.execution.cancel', 'profile missing', `${STOP} (a deleted profile cancels it)`],
  ['agent_machine.tool_grant.apply', 'budget over ceiling', "a grant asks for no budget; its calls count connectorCalls against the calling execution's budget (gateway 429)"],
  ['agent_machine.tool_grant.revoke', 'expired authority', STOP],
  ['agent_machine.tool_grant.revoke', 'scope not covering', STOP],
  ['agent_machine.tool_grant.revoke', 'budget over ceiling', 'a revocation asks for no budget'],
  ['agent_machine.tool_grant.revoke', 'policy gate denying', STOP],
  ['agent_machine.tool_grant.revoke', 'profile missing', STOP],
  ['agent_machine.model_provider.bind', 'budget over ceiling', "a binding asks for no budget; model calls through it count against the calling execution's budget (gateway 429)"],
  ['agent_machine.diagnostics.export_redacted', 'budget over ceiling', 'an export asks for no budget'],
  ['agent_machine.diagnostics.export_redacted', 'policy gate denying', 'no profile governs an export: authority, scope and RBAC are its gates'],
  ['agent_machine.diagnostics.export_redacted', 'profile missing', 'a bundle names no profile'],
  ['agent_machine.tool_grant.apply', "other delegator's grant", "a grant is made under its own delegation: claiming someone else's is the delegator mismatch"],
  ['agent_machine.tool_grant.apply', "other delegator's binding", 'a grant uses no binding'],
  ['agent_machine.model_provider.bind', "other delegator's binding", "a binding is made under its own delegation: claiming someone else's is the delegator mismatch"],
  ...(['agent_machine.execution.cancel', 'agent_machine.tool_grant.revoke'] as const).flatMap((op) => BORROWED.map((c): [Operation, Control, string] => [op, c, STOP])),
  ...(['agent_machine.profile.create', 'agent_machine.container.run', 'agent_machine.diagnostics.export_redacted'] as const).flatMap((op) =>
    BORROWED.map((c): [Operation, Control, string] => [op, c, 'it uses no grant or binding']),
  ),
  ['agent_machine.model_provider.bind', "other delegator's grant", 'a binding uses no grant'],
  ['agent_machine.model_provider.bind', "other tenant's grant", 'a binding uses no grant'],
];

// ---------------------------------------------------------------------------------------------
// Valid objects, one per operation, and how to break each control
// ---------------------------------------------------------------------------------------------

const SCOPES: Record<string, string[]> = {
  profile: ['agent_machine.profile.create'],
  execution: ['agent_machine.execution.start', 'agent_machine.execution.cancel', 'agent_machine.container.run'],
  grant: ['agent_machine.tool_grant.apply', 'agent_machine.tool_grant.revoke', `tool:${TOOL}`],
  record: ['agent_machine.container.run'],
  binding: ['agent_machine.model_provider.bind'],
  bundle: ['agent_machine.diagnostics.export_redacted'],
};
// Scopes that are valid but cover something else.
const OTHER_SCOPES: Record<string, string[]> = {
  profile: ['agent_machine.execution.start'],
  execution: ['agent_machine.container.run'],
  grant: ['agent_machine.tool_grant.apply'], // the operation, but not the tool
  record: ['agent_machine.execution.start'],
  binding: ['agent_machine.tool_grant.apply'],
  bundle: ['agent_machine.execution.start'],
};

type Kind = keyof typeof SCOPES;
const KIND_OF: Record<Kind, KindName> = {
  profile: 'AgentMachineProfile',
  execution: 'LocalAgentExecution',
  grant: 'ToolGrantRecord',
  record: 'ContainerExecutionRecord',
  binding: 'ModelProviderBinding',
  bundle: 'AgentMachineDiagnosticBundle',
};
const PLURAL: Record<Kind, string> = {
  profile: 'agentmachineprofiles',
  execution: 'localagentexecutions',
  grant: 'toolgrantrecords',
  record: 'containerexecutionrecords',
  binding: 'modelproviderbindings',
  bundle: 'agentmachinediagnosticbundles',
};

interface Breaks {
  delegator?: string;
  expiresAt?: string;
  scopes?: string[];
  profile?: string;
  budget?: object;
  image?: string;
  tool?: string;
  endpointPath?: string;
  /** An execution's tools, its modelProviderRef (null: none), its command. */
  tools?: string[];
  modelProvider?: string | null;
  command?: string[];
  tenant?: string;
  namespace?: string;
}

function valid(kind: Kind, name: string, b: Breaks = {}): any {
  const auth = authority(b.delegator ?? 'alice', b.scopes ?? SCOPES[kind]!, b.expiresAt);
  const meta = { name, namespace: b.namespace ?? ns };
  const tenant = b.tenant ? { tenant: b.tenant } : {};
  const profileRef = { name: b.profile ?? PROFILE };
  const container = { name: 'agent', image: b.image ?? sandboxImage(), command: b.command ?? ['sh', '-c', 'echo hello from the matrix'] };
  const budget = { wallClockSeconds: 60, sandboxMemoryBytes: 32 * MiB, localDiskBytes: 8 * MiB, cpuGpuComputeSeconds: 30, ...b.budget };
  const base = { apiVersion: 'agentmachine.sourceos.dev/v1alpha1' };
  switch (kind) {
    case 'profile':
      return { ...testProfile(name, profileSpec()), spec: { ...profileSpec(), authority: auth } };
    case 'execution':
      return {
        ...base,
        kind: 'LocalAgentExecution',
        metadata: meta,
        spec: { profileRef, authority: auth, containers: [container], ...(b.modelProvider === null ? {} : { modelProviderRef: { name: b.modelProvider ?? 'ok-binding' } }), ...(b.tools ? { tools: b.tools } : {}), ...tenant, budget },
      };
    case 'grant':
      return { ...base, kind: 'ToolGrantRecord', metadata: meta, spec: { profileRef, tool: b.tool ?? TOOL, actions: ['read'], authority: auth, ...tenant } };
    case 'record':
      return { ...base, kind: 'ContainerExecutionRecord', metadata: meta, spec: { profileRef, authority: auth, container, budget } };
    case 'binding':
      return { ...base, kind: 'ModelProviderBinding', metadata: meta, spec: { profileRef, provider: 'openai-compatible', endpoint: `${upstream.url}${b.endpointPath ?? ''}`, model: 'test-model', owner: b.delegator ?? 'alice', authority: auth } };
    case 'bundle':
      return { ...base, kind: 'AgentMachineDiagnosticBundle', metadata: meta, spec: { scope: { executions: ['ok-execution'] }, include: { metrics: false }, authority: auth } };
  }
  throw new Error(kind);
}

function profileSpec() {
  return {
    profileType: 'personal',
    authority: authority('alice', SCOPES.profile!),
    budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 300, agentConcurrency: 4 },
    network: { mode: 'none' },
    images: { allowedRegistries: ['localhost'] },
    rules: [
      { name: 'no-forbidden-tools', gate: 'toolGrant', expression: '!request.tool.startsWith("forbidden.")', message: 'forbidden.* tools are never granted' },
      { name: 'no-forbidden-endpoints', gate: 'modelProviderUse', expression: '!request.endpoint.contains("forbidden")', message: 'endpoints named forbidden are never bound' },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Talking to the API server
// ---------------------------------------------------------------------------------------------

/** Creates objects as user (a token user, or anyone the admin impersonates); the first failure wins. */
async function create(user: string, ...objects: object[]): Promise<ApiAnswer> {
  const answers = await Promise.all(objects.map((o) => createObjectAs(user, o as { kind: string })));
  return answers.find((a) => a.status >= 300) ?? answers[0]!;
}
const patch = (user: string, kind: Kind, name: string, body: object) => mergePatchAs(user, KIND_OF[kind]!, name, kind === 'profile' ? undefined : ns, body);

const getAny = (kind: Kind, name: string) => getObject<any>(KIND_OF[kind]!, name, kind === 'profile' ? undefined : ns);
const ready = (status: any) => status?.conditions?.find((c: any) => c.type === 'Ready');
const auditEntries = (): any[] => readFileSync(auditLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function configMapsOf(bundle: string): Promise<string[]> {
  const list = await admin.core.listNamespacedConfigMap({ namespace: ns });
  return list.items.map((c) => c.metadata!.name!).filter((n) => n.startsWith(`${bundle}-part-`));
}

async function secretExists(name: string): Promise<boolean> {
  try {
    await admin.core.readNamespacedSecret({ name, namespace: ns });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Cells the controller decides
// ---------------------------------------------------------------------------------------------

interface ControllerCell {
  op: Operation;
  control: Control;
  kind: Kind;
  user: string;
  breaks: Breaks;
  reason: string;
  message: RegExp;
}

const denying = (op: Operation, kind: Kind): ControllerCell[] => {
  const cells: ControllerCell[] = [
    { op, control: 'delegator without RBAC', kind, user: NORBAC, breaks: { delegator: NORBAC }, reason: 'PermissionDenied', message: new RegExp(`user "${NORBAC}" may not`) },
    { op, control: 'expired authority', kind, user: 'alice', breaks: { expiresAt: PAST }, reason: 'AuthorityExpired', message: /expired at 2020-01-01T00:00:00Z/ },
    { op, control: 'scope not covering', kind, user: 'alice', breaks: { scopes: OTHER_SCOPES[kind]! }, reason: 'ScopeNotCovered', message: /delegation does not cover/ },
  ];
  if (kind === 'execution' || kind === 'record') {
    cells.push({ op, control: 'budget over ceiling', kind, user: 'alice', breaks: { budget: { wallClockSeconds: 100_000 } }, reason: 'BudgetExceeded', message: /wallClockSeconds/ });
    cells.push({ op, control: 'policy gate denying', kind, user: 'alice', breaks: { image: 'evil.example:5000/agent:1' }, reason: 'PolicyDenied', message: /not in allowedRegistries/ });
  }
  if (kind === 'grant') cells.push({ op, control: 'policy gate denying', kind, user: 'alice', breaks: { tool: 'forbidden.tool', scopes: [...SCOPES.grant!, 'tool:forbidden.tool'] }, reason: 'PolicyDenied', message: /forbidden\.\* tools are never granted/ });
  if (kind === 'binding') cells.push({ op, control: 'policy gate denying', kind, user: 'alice', breaks: { endpointPath: '/forbidden' }, reason: 'PolicyDenied', message: /endpoints named forbidden are never bound/ });
  if (kind !== 'bundle') cells.push({ op, control: 'profile missing', kind, user: 'alice', breaks: { profile: MISSING_PROFILE }, reason: 'ProfileNotFound', message: new RegExp(MISSING_PROFILE) });
  return cells;
};

const CONTROLLER_CELLS: ControllerCell[] = [
  // A broker applies the profile on behalf of a delegator with no RBAC at all: the API server
  // checked the broker, so the controller must check the delegator.
  { op: 'agent_machine.profile.create', control: 'delegator without RBAC', kind: 'profile', user: BROKER, breaks: { delegator: NOBODY }, reason: 'PermissionDenied', message: new RegExp(`user "${NOBODY}" may not create agentmachineprofiles`) },
  ...denying('agent_machine.profile.create', 'profile').filter((c) => c.control === 'expired authority' || c.control === 'scope not covering'),
  ...denying('agent_machine.execution.start', 'execution'),
  ...denying('agent_machine.tool_grant.apply', 'grant'),
  ...denying('agent_machine.container.run', 'record'),
  ...denying('agent_machine.model_provider.bind', 'binding'),
  ...denying('agent_machine.diagnostics.export_redacted', 'bundle'),
];

// Created once what they borrow is in service (alice's Active grant, her Ready user-owned
// binding): bob, who may delegate as alice may, names her delegate and tool, or her binding.
const TOOL_SCOPES = [...SCOPES.execution!, `tool:${TOOL}`];
const BORROWING_CELLS: ControllerCell[] = [
  {
    op: 'agent_machine.execution.start',
    control: "other delegator's grant",
    kind: 'execution',
    user: BOB,
    breaks: { delegator: BOB, scopes: TOOL_SCOPES, tools: [TOOL] },
    reason: 'GrantDelegatorMismatch',
    message: new RegExp(`ToolGrantRecord [^ ]+/ok-grant grants tool ${TOOL.replace(/\./g, '\\.')} to agent:test under the delegation of alice, not of ${BOB}`),
  },
  {
    op: 'agent_machine.execution.start',
    control: "other delegator's binding",
    kind: 'execution',
    user: BOB,
    breaks: { delegator: BOB, modelProvider: 'owned-binding' },
    reason: 'BindingOwnerMismatch',
    message: new RegExp(`ModelProviderBinding [^ ]+/owned-binding is user-owned by alice, not by this execution's delegator ${BOB}`),
  },
];

const slug = (s: string) => s.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const cellName = (c: ControllerCell) => (c.kind === 'profile' ? `mx-${id}-${slug(c.control)}` : `${c.kind}-${slug(c.control)}`);
const endpointPathOf = (c: ControllerCell) => c.breaks.endpointPath ?? `/cell-${slug(c.control)}`;

function objectFor(c: ControllerCell): any {
  const breaks = c.kind === 'binding' ? { ...c.breaks, endpointPath: endpointPathOf(c) } : c.breaks;
  return valid(c.kind, cellName(c), breaks);
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  await installApi();
  ns = await createNamespace('matrix');
  tenantNs = await createNamespace('matrix-tenant');
  await kubectl(['label', 'namespace', tenantNs, `${TENANT_LABEL}=globex`]);
  await Promise.all([grantEditorRole('alice'), grantEditorRole(NORBAC), grantEditorRole(IMPOSTOR), grantEditorRole(BROKER), grantEditorRole(BOB)]);
  await bindDelegatorRole('alice');
  await bindDelegatorRole(BOB);
  upstream = await startOpenAiTestServer({ models: ['test-model'] });
  tokenWatch = await new Watch(adminKubeConfig()).watch(`/api/v1/namespaces/${ns}/secrets`, { labelSelector: TOKEN_SELECTOR }, (type, secret) => {
    if (type === 'ADDED') tokensMinted.add(secret.metadata.labels[TOKEN_EXECUTION_LABEL]);
  }, () => {});
  engine = await watchEngineEvents();
  controller = await startControllerProcess({ auditLogPath: auditLog, args: ['-n', ns] });
  const listening = await controller.waitForLog((l) => l.msg === 'model gateway listening');
  gatewayUrl = `http://127.0.0.1:${new URL(String(listening.url)).port}`;
  // A namespaced controller still watches cluster-scoped profiles.
  const profile = valid('profile', PROFILE);
  profile.metadata.labels = { 'matrix-run': id };
  // alice's personal model account is bound under a user_owned_model profile.
  const owned = valid('profile', OWNED_PROFILE);
  owned.spec.profileType = 'user_owned_model';
  owned.metadata.labels = { 'matrix-run': id };
  assert.equal((await create('alice', profile, owned)).status, 201);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${PROFILE}`, `agentmachineprofile/${OWNED_PROFILE}`]);
});

after(async () => {
  engine?.stop();
  tokenWatch?.abort();
  await controller?.kill('SIGTERM');
  await tenantController?.kill('SIGTERM');
  await upstream?.close();
  await kubectl(['delete', 'agentmachineprofile', '-l', `matrix-run=${id}`, '--ignore-not-found', '--wait=false'], { check: false });
});

test('RBAC removed mid-run → cancelled: a firewall profile cancels the run of a delegator whose RoleBinding is deleted (AuthorityLost, audited)', async () => {
  // A delegator of its own, so removing its binding touches no other cell.
  const user = `matrix-midrun-${id}`;
  const firewall = { ...valid('profile', `mx-${id}-firewall`), metadata: { name: `mx-${id}-firewall`, labels: { 'matrix-run': id } } };
  firewall.spec = { ...firewall.spec, profileType: 'corporate_firewall' };
  await grantEditorRole(user);
  await bindDelegatorRole(user);
  assert.equal((await create('alice', firewall)).status, 201);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${firewall.metadata.name}`]);
  const ex = valid('execution', 'midrun-rbac', { delegator: user, profile: firewall.metadata.name });
  delete ex.spec.modelProviderRef;
  ex.spec.containers[0].command = ['sleep', '120'];
  assert.equal((await create(user, ex)).status, 201);
  await eventually('midrun-rbac Running', async () => (await getAny('execution', 'midrun-rbac'))?.status?.phase === 'Running', 60_000);

  const removedAt = Date.now();
  await kubectl(['delete', 'clusterrolebinding', `agent-machine-delegator-${user}`]);
  const status = await eventually('midrun-rbac Cancelled', async () => {
    const s = (await getAny('execution', 'midrun-rbac'))?.status;
    return s?.phase === 'Cancelled' || s?.phase === 'Succeeded' || s?.phase === 'Failed' ? s : undefined;
  }, 90_000);
  const seconds = ((Date.now() - removedAt) / 1000).toFixed(1);
  assert.equal(status.phase, 'Cancelled');
  const readyCondition = ready(status);
  assert.equal(readyCondition.reason, 'AuthorityLost');
  assert.match(readyCondition.message, new RegExp(`RBAC was removed .*user "${user}" may not use agentmachineprofiles`));
  assert.equal(status.containers[0].phase, 'Cancelled', 'its container was stopped');
  const uid = (await getAny('execution', 'midrun-rbac')).metadata.uid;
  const cancel = auditEntries().find((e) => e.object.uid === uid && e.operationType === 'agent_machine.execution.cancel' && e.outcome === 'cancelled');
  assert.ok(cancel, 'the cancel is audited');
  assert.match(cancel.reason, /authority lost while running/);
  midRun.set('RBAC removed mid-run → cancelled', `cancelled+audited (AuthorityLost) ${seconds} s after the RoleBinding was deleted`);
});

test('group-bound RBAC allowed: carol, whose only RBAC is her group\'s, runs an execution whose delegation records the group', async () => {
  const group = 'agent-machine:ml-team'; // carol's group (test/support/integration-env.ts)
  const binding = (role: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `matrix-group-${role}-${id}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
  });
  await grantEditorRole('alice'); // makes sure the editor ClusterRole exists
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [binding('agent-machine-delegator'), binding('agent-machine-test-editor')] }) });
  try {
    const ex = valid('execution', 'group-rbac', { delegator: 'carol' });
    delete ex.spec.modelProviderRef;
    ex.spec.authority.groups = [group];
    ex.spec.containers[0].command = ['true'];
    const created = await create('carol', ex);
    assert.equal(created.status, 201, created.message);
    const status = await eventually('group-rbac finished', async () => {
      const st = (await getAny('execution', 'group-rbac'))?.status;
      return ['Succeeded', 'Failed', 'Denied', 'Cancelled'].includes(st?.phase) ? st : undefined;
    }, 90_000);
    assert.equal(status.phase, 'Succeeded', JSON.stringify(status.conditions));
    const rbac = (status.decisions ?? []).find((d: any) => d.rule === 'rbac.use.agentmachineprofiles');
    assert.ok(rbac?.allowed, 'the access review that allowed it is recorded');
    midRun.set('group-bound RBAC allowed', `allowed (Succeeded): carol's only RBAC is bound to group ${group}, which her delegation records (spec.authority.groups)`);
  } finally {
    await kubectl(['delete', 'clusterrolebinding', `matrix-group-agent-machine-delegator-${id}`, `matrix-group-agent-machine-test-editor-${id}`, '--ignore-not-found']);
  }
});

test('the no-ambient-authority matrix: every operation × every control is refused, inert and audited (or rejected at admission)', async (t) => {
  // Valid objects first: they must get through, which shows each check below can fail.
  const positives = {
    execution: valid('execution', 'ok-execution'),
    // Runs until cancelled (long enough for every phase before); its delegation covers the tool,
    // for a gateway call under alice's grant.
    target: valid('execution', 'target-execution', { command: ['sleep', '240'], scopes: TOOL_SCOPES, budget: { wallClockSeconds: 280 } }),
    grant: valid('grant', 'ok-grant'),
    record: valid('record', 'ok-record'),
    binding: valid('binding', 'ok-binding'),
    owned: valid('binding', 'owned-binding', { profile: OWNED_PROFILE }),
  };
  const cells = CONTROLLER_CELLS.map((c) => ({ cell: c, object: objectFor(c) }));
  for (const { object } of cells) if (object.kind === 'AgentMachineProfile') object.metadata.labels = { 'matrix-run': id };

  // Everything at once, each object as its identity: the controller decides them concurrently.
  const byUser = new Map<string, object[]>([['alice', Object.values(positives)]]);
  for (const { cell, object } of cells) byUser.set(cell.user, [...(byUser.get(cell.user) ?? []), object]);
  const created = await Promise.all([...byUser].map(async ([user, objects]) => ({ user, result: await create(user, ...objects) })));
  for (const { user, result } of created) assert.ok(result.status < 300, `creating as ${user}: ${result.status} ${result.message}`);

  // Admission cells run meanwhile (they need the target execution and grant to exist).
  const admission = admissionCells();

  // --- controller cells: refused with the control's reason -----------------------------------
  const decide = async ({ cell, object }: { cell: ControllerCell; object: any }) => {
    const status = await eventually(`${cellKey(cell.op, cell.control)} refused`, async () => {
      const s = (await getAny(cell.kind, object.metadata.name))?.status;
      const phase = s?.phase ?? s?.state;
      if (phase === 'Denied' || phase === 'Invalid') return s;
      // Executions, records, grants and bindings wait for a profile that does not exist yet
      // (GitOps applies in any order): held, nothing started; every gate runs once it exists.
      return cell.control === 'profile missing' && phase === 'Pending' && ready(s)?.reason === cell.reason ? s : undefined;
    }, 30_000, 250);
    return { cell, object, status };
  };
  const decided = await Promise.all(cells.map(decide));
  const bundleOk = valid('bundle', 'ok-bundle');
  assert.equal((await create('alice', bundleOk)).status, 201);

  // Positive controls reach their happy state.
  await eventually('ok-execution Succeeded', async () => (await getAny('execution', 'ok-execution'))?.status?.phase === 'Succeeded', 60_000);
  await eventually('target-execution Running', async () => (await getAny('execution', 'target-execution'))?.status?.phase === 'Running', 60_000);
  // (A grant or binding denied while the CEL worker was still starting is looked at again within 30 s.)
  await eventually('ok-grant Active', async () => (await getAny('grant', 'ok-grant'))?.status?.state === 'Active', 45_000);
  await eventually('ok-record Succeeded', async () => (await getAny('record', 'ok-record'))?.status?.phase === 'Succeeded', 60_000);
  await eventually('ok-binding Ready', async () => (await getAny('binding', 'ok-binding'))?.status?.phase === 'Ready', 45_000);
  await eventually('ok-bundle Ready', async () => (await getAny('bundle', 'ok-bundle'))?.status?.phase === 'Ready', 60_000);
  await eventually('owned-binding Ready', async () => (await getAny('binding', 'owned-binding'))?.status?.phase === 'Ready', 45_000);

  // --- borrowed authority: bob names what is alice's, now that it is in service ---------------
  const borrowing = BORROWING_CELLS.map((c) => ({ cell: c, object: objectFor(c) }));
  const bobs = await create(BOB, ...borrowing.map((b) => b.object));
  assert.ok(bobs.status < 300, `creating as bob: ${bobs.status} ${bobs.message}`);
  decided.push(...(await Promise.all(borrowing.map(decide))));
  const refusedCall = await borrowedGatewayCall();

  await admission;

  // Alice stops her own target execution and revokes her own grant: the stop commands work and
  // are audited (the admission cells above tried the same with a broken control).
  assert.equal((await patch('alice', 'execution', 'target-execution', { spec: { cancel: true } })).status, 200);
  assert.equal((await patch('alice', 'grant', 'ok-grant', { spec: { revoked: true, revocationReason: 'matrix done' } })).status, 200);
  await eventually('target-execution Cancelled', async () => (await getAny('execution', 'target-execution'))?.status?.phase === 'Cancelled', 30_000);
  await eventually('ok-grant Revoked', async () => (await getAny('grant', 'ok-grant'))?.status?.state === 'Revoked');

  // --- inert and audited ---------------------------------------------------------------------
  const audit = auditEntries();
  const creates = engine.all('create').map((e) => e.labels);
  const uidOf = async (kind: Kind, name: string) => (await getAny(kind, name))!.metadata.uid as string;
  const recordsOwnedBy = async (uid: string) => {
    const list = await admin.request<any>({ method: 'GET', path: `/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/${ns}/containerexecutionrecords` });
    return list.items.filter((r: any) => r.metadata.ownerReferences?.some((o: any) => o.uid === uid));
  };
  const createdFor = (uid: string | undefined, recordPrefix: string) =>
    creates.filter((a) => (uid !== undefined && a[RECORD_UID_LABEL] === uid) || (a[RECORD_NAME_LABEL] ?? '').startsWith(`${ns}.${recordPrefix}`));

  // Positive controls leave the traces the cells must not have.
  const okExec = await uidOf('execution', 'ok-execution');
  const okRecordUid = await uidOf('record', 'ok-record');
  assert.equal((await recordsOwnedBy(okExec)).length, 1, 'the valid execution owns its record');
  assert.ok(tokensMinted.has('ok-execution'), `the valid execution got a gateway token (seen: ${[...tokensMinted].join(', ')})`);
  assert.ok(createdFor(undefined, 'ok-execution-').length >= 1, `the engine reported the valid execution's container created (${creates.length} creates seen)`);
  assert.equal(createdFor(okRecordUid, 'ok-record').length, 1, 'podman created the valid record\'s container once');
  assert.ok(audit.some((e) => e.object.uid === okExec && e.outcome === 'started'), 'the valid execution is audited as started');
  assert.ok(upstream.requests.some((r) => r.path === '/v1/models'), 'the valid binding was probed');
  assert.deepEqual(await configMapsOf('ok-bundle'), ['ok-bundle-part-0'], 'the valid bundle wrote its ConfigMap');
  const targetUid = await uidOf('execution', 'target-execution');
  assert.ok(audit.some((e) => e.object.uid === targetUid && e.operationType === 'agent_machine.execution.cancel' && e.outcome === 'cancelled'), 'alice\'s cancel is audited');
  const okGrantUid = await uidOf('grant', 'ok-grant');
  assert.ok(audit.some((e) => e.object.uid === okGrantUid && e.operationType === 'agent_machine.tool_grant.revoke' && e.outcome === 'revoked'), 'alice\'s revocation is audited');

  for (const { cell, object, status } of decided) {
    const where = cellKey(cell.op, cell.control);
    const held = (status.phase ?? status.state) === 'Pending';
    const refusedPhase = held ? 'Pending' : 'Denied';
    const cond = ready(status);
    assert.equal(cond?.reason, cell.reason, `${where}: ${JSON.stringify(status.conditions)}`);
    assert.match(cond.message, cell.message, where);
    assert.equal(status.conditions.find((c: any) => c.type === 'Ready').status, 'False', where);
    const uid = await uidOf(cell.kind, object.metadata.name);
    const name = object.metadata.name as string;

    // Inert.
    switch (cell.kind) {
      case 'profile':
        assert.equal(status.phase, 'Invalid', where);
        break;
      case 'execution':
        assert.equal(status.phase, refusedPhase, where);
        assert.deepEqual(await recordsOwnedBy(uid), [], `${where}: no container record`);
        assert.deepEqual(createdFor(undefined, `${name}-`), [], `${where}: no container ever created`);
        assert.equal(tokensMinted.has(name), false, `${where}: a gateway token was minted`);
        assert.equal(await secretExists(`${name}-gateway-token`), false, `${where}: no gateway token`);
        break;
      case 'record':
        assert.equal(status.phase, refusedPhase, where);
        assert.equal(status.containerId, undefined, where);
        assert.deepEqual(createdFor(uid, name), [], `${where}: no container ever created`);
        break;
      case 'grant':
        assert.equal(status.state, refusedPhase, where);
        assert.equal(status.activatedAt, undefined, `${where}: never Active`);
        break;
      case 'binding': {
        assert.equal(status.phase, refusedPhase, where);
        const probe = endpointPathOf(cell);
        assert.deepEqual(upstream.requests.filter((r) => r.path.startsWith(probe)), [], `${where}: the endpoint was never probed`);
        assert.equal(status.conditions.find((c: any) => c.type === 'EndpointReachable')?.status, 'Unknown', where);
        break;
      }
      case 'bundle':
        assert.equal(status.phase, 'Denied', where);
        assert.equal(status.digest, undefined, where);
        assert.deepEqual(await configMapsOf(name), [], `${where}: no ConfigMap`);
        break;
    }

    // Audited: the refusal, and nothing that says it went ahead.
    const mine = audit.filter((e) => e.object.uid === uid);
    const refusal = mine.find((e) => e.outcome === (held ? 'queued' : 'denied') && e.operationType === cell.op);
    assert.ok(refusal, `${where}: no audit record of the refusal; entries: ${JSON.stringify(mine)}`);
    assert.equal(refusal.object.name, name);
    assert.match(refusal.reason, cell.message, `${where}: the audit record says why`);
    const wentAhead = mine.filter((e) => ['allowed', 'started', 'completed'].includes(e.outcome));
    assert.deepEqual(wentAhead, [], `${where}: audited as going ahead`);
    record(cell.op, cell.control, held ? `held+audited (${cell.reason})` : `refused+audited (${cell.reason})`);
  }

  const grantCell = cellKey('agent_machine.execution.start', "other delegator's grant");
  results.set(grantCell, `${results.get(grantCell)}; gateway ${refusedCall}`);
  await tenantCells();

  for (const [op, control, why] of NOT_APPLICABLE) record(op, control, `n/a (${why})`);
  printMatrix(t);
  assert.equal(results.size, OPERATIONS.length * CONTROLS.length, `cells without a result: ${OPERATIONS.flatMap((o) => CONTROLS.map((c) => cellKey(o, c))).filter((k) => !results.has(k)).join('; ')}`);
});

// ---------------------------------------------------------------------------------------------
// Borrowed authority at the point of use, and tenants
// ---------------------------------------------------------------------------------------------

/** POST /v1/tools/authorize with the token of an execution (read from its Secret, as its container gets it). */
async function authorizeTool(execution: string, namespace = ns): Promise<{ status: number; json: any }> {
  const token = await eventually(`token of ${execution}`, async () => {
    try {
      const s = await admin.core.readNamespacedSecret({ name: `${execution}-gateway-token`, namespace });
      return Buffer.from(s.data!.token!, 'base64').toString();
    } catch {
      return undefined;
    }
  });
  const res = await fetch(`${gatewayUrl}/v1/tools/authorize`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ tool: TOOL, action: 'read' }) });
  return { status: res.status, json: await res.json() };
}

/**
 * bob's execution lists no tools (nothing for admission to match) but its delegation covers
 * alice's tool: at call time, only her grant to the same delegate is in service. It is refused;
 * alice's own execution, asking the same, is allowed.
 */
async function borrowedGatewayCall(): Promise<string> {
  const borrower = valid('execution', 'bob-borrower', { delegator: BOB, scopes: TOOL_SCOPES, command: ['sleep', '30'] });
  assert.equal((await create(BOB, borrower)).status, 201);
  await eventually('bob-borrower Running', async () => (await getAny('execution', 'bob-borrower'))?.status?.phase === 'Running', 60_000);
  const alices = await authorizeTool('target-execution');
  assert.equal(alices.status, 200, JSON.stringify(alices.json));
  assert.equal(alices.json.grant, 'ok-grant');
  const refused = await authorizeTool('bob-borrower');
  assert.equal(refused.status, 403, JSON.stringify(refused.json));
  assert.deepEqual([refused.json.allowed, refused.json.reason], [false, 'grant_delegator_mismatch']);
  assert.match(refused.json.message, new RegExp(`ToolGrantRecord ok-grant grants .* to agent:test under the delegation of alice, not of ${BOB}`));
  assert.equal((await patch(BOB, 'execution', 'bob-borrower', { spec: { cancel: true } })).status, 200);
  return `${refused.status} ${refused.json.reason}`;
}

/**
 * Tenants are the namespace's, set by an administrator (label agentmachine.sourceos.dev/tenant
 * on tenantNs, first globex). The API server rejects objects claiming another tenant there. A
 * controller of that namespace (its own audit log) activates globex's grant, which serves a
 * globex execution; the administrator then gives the namespace to acme: the controller, which
 * reads the label itself, takes the globex grant out of service, and acme's execution naming the
 * same tool is refused and inert. The controller is restarted around the relabel so that what it
 * decides does not depend on when its namespace cache (10 s) expires.
 */
async function tenantCells(): Promise<void> {
  const here = { namespace: tenantNs, modelProvider: null, scopes: TOOL_SCOPES, tools: [TOOL] };
  const claimsAcme = /spec\.tenant must be "globex", the tenant of namespace matrix-tenant-[a-z0-9-]+ \(label agentmachine\.sourceos\.dev\/tenant\), not "acme"/;
  assertRejected('an execution claiming tenant acme in globex\'s namespace', await create('alice', valid('execution', 'acme-claim', { ...here, tenant: 'acme' })), claimsAcme);
  assertRejected(cellKey('agent_machine.tool_grant.apply', "other tenant's grant"), await create('alice', valid('grant', 'acme-grant', { namespace: tenantNs, tenant: 'acme' })), claimsAcme);
  assertRejected('a grant claiming no tenant in globex\'s namespace', await create('alice', valid('grant', 'untenanted-grant', { namespace: tenantNs })), /spec\.tenant must be "globex".*not ""/);
  record('agent_machine.tool_grant.apply', "other tenant's grant", 'admission');

  const start = () => startControllerProcess({ auditLogPath: tenantAuditLog, args: ['-n', tenantNs] });
  const grantStatus = async () => (await getObject<any>('ToolGrantRecord', 'globex-grant', tenantNs))?.status;
  const execution = async (name: string) => await getObject<any>('LocalAgentExecution', name, tenantNs);
  tenantController = await start();
  assert.equal((await create('alice', valid('grant', 'globex-grant', { namespace: tenantNs, tenant: 'globex' }))).status, 201);
  await eventually('globex-grant Active', async () => (await grantStatus())?.state === 'Active', 45_000);
  assert.equal((await create('alice', valid('execution', 'globex-run', { ...here, tenant: 'globex' }))).status, 201);
  await eventually('globex-run Succeeded under its tenant\'s grant', async () => (await execution('globex-run'))?.status?.phase === 'Succeeded', 60_000);

  await tenantController.kill('SIGTERM');
  await kubectl(['label', '--overwrite', 'namespace', tenantNs, `${TENANT_LABEL}=acme`]);
  tenantController = await start();
  const grant = await eventually('globex-grant out of service in acme\'s namespace', async () => {
    const s = await grantStatus();
    return s?.state === 'Denied' ? s : undefined;
  }, 45_000);
  assert.equal(ready(grant).reason, 'TenantMismatch');
  assert.match(ready(grant).message, /spec\.tenant globex is not the tenant of namespace matrix-tenant-[a-z0-9-]+, which belongs to tenant acme/);

  assert.equal((await create('alice', valid('execution', 'acme-run', { ...here, tenant: 'acme' }))).status, 201);
  const denied = await eventually('acme-run Denied', async () => {
    const s = (await execution('acme-run'))?.status;
    return s?.phase === 'Denied' ? s : undefined;
  }, 30_000);
  assert.match(ready(denied).message, new RegExp(`no Active ToolGrantRecord in ${tenantNs} grants tool`));
  const where = cellKey('agent_machine.execution.start', "other tenant's grant");
  // Inert and audited, as the other cells.
  const uid = (await execution('acme-run')).metadata.uid;
  const engineCreates = engine.all('create').map((e) => e.labels).filter((l) => (l[RECORD_NAME_LABEL] ?? '').startsWith(`${tenantNs}.acme-run-`));
  assert.deepEqual(engineCreates, [], `${where}: no container ever created`);
  const list = await admin.request<any>({ method: 'GET', path: `/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/${tenantNs}/containerexecutionrecords` });
  assert.deepEqual(list.items.filter((r: any) => r.metadata.ownerReferences?.some((o: any) => o.uid === uid)), [], `${where}: no container record`);
  const globexRun = (await execution('globex-run')).metadata.uid;
  assert.ok(list.items.some((r: any) => r.metadata.ownerReferences?.some((o: any) => o.uid === globexRun)), 'the globex execution did run a container record (the check above can fail)');
  let tokenSecret = true;
  await admin.core.readNamespacedSecret({ name: 'acme-run-gateway-token', namespace: tenantNs }).catch(() => (tokenSecret = false));
  assert.equal(tokenSecret, false, `${where}: no gateway token`);
  const audit = readFileSync(tenantAuditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const mine = audit.filter((e) => e.object.uid === uid);
  assert.ok(mine.some((e) => e.outcome === 'denied' && e.operationType === 'agent_machine.execution.start' && /no Active ToolGrantRecord/.test(e.reason)), `${where}: audited: ${JSON.stringify(mine)}`);
  assert.deepEqual(mine.filter((e) => ['allowed', 'started', 'completed'].includes(e.outcome)), [], `${where}: audited as going ahead`);
  const grantUid = (await getObject<any>('ToolGrantRecord', 'globex-grant', tenantNs)).metadata.uid;
  assert.ok(audit.some((e) => e.object.uid === grantUid && e.outcome === 'denied' && /which belongs to tenant acme/.test(e.reason)), 'the grant taken out of service is audited');
  record('agent_machine.execution.start', "other tenant's grant", 'refused+audited (grant: TenantMismatch; execution: PolicyDenied)');
}

// ---------------------------------------------------------------------------------------------
// Cells the API server decides
// ---------------------------------------------------------------------------------------------

function assertRejected(where: string, answer: ApiAnswer, expected: RegExp): void {
  assert.ok(answer.status >= 400, `${where}: the API server accepted it (${answer.status})`);
  assert.match(answer.message, expected, `${where}: ${answer.status} ${answer.message}`);
}

const MISMATCH = (user: string) => new RegExp(`spec\\.authority\\.delegator "alice" must be the requesting user "${user}"`);
const REQUIRED = /spec\.authority: Required value/;

async function admissionCells(): Promise<void> {
  const creators: Array<[Operation, Kind]> = [
    ['agent_machine.profile.create', 'profile'],
    ['agent_machine.execution.start', 'execution'],
    ['agent_machine.tool_grant.apply', 'grant'],
    ['agent_machine.container.run', 'record'],
    ['agent_machine.model_provider.bind', 'binding'],
    ['agent_machine.diagnostics.export_redacted', 'bundle'],
  ];
  await Promise.all(
    creators.map(async ([op, kind]) => {
      const name = kind === 'profile' ? `mx-${id}-adm` : `${kind}-adm`;
      // No authority: the schema requires it, and so does the admission policy.
      const bare = valid(kind, `${name}-bare`);
      delete bare.spec.authority;
      assertRejected(cellKey(op, 'no authority'), await create('alice', bare), REQUIRED);
      assert.equal(await getAny(kind, `${name}-bare`), undefined);
      record(op, 'no authority', 'admission');
      // Someone else's delegation: the admission policy.
      assertRejected(cellKey(op, 'delegator mismatch'), await create(IMPOSTOR, valid(kind, `${name}-impostor`)), MISMATCH(IMPOSTOR));
      assert.equal(await getAny(kind, `${name}-impostor`), undefined);
      record(op, 'delegator mismatch', 'admission');
    }),
  );

  // Ceilings are themselves capped by the API (a year of wall clock, ...).
  const greedy = valid('profile', `mx-${id}-greedy`);
  greedy.spec.budgetCeilings.wallClockSeconds = 10 ** 12;
  assertRejected(cellKey('agent_machine.profile.create', 'budget over ceiling'), await create('alice', greedy), /spec\.budgetCeilings\.wallClockSeconds: Invalid value: .*less than or equal to 31536000/);
  record('agent_machine.profile.create', 'budget over ceiling', 'admission');

  // Stops (cancel, revoke) are updates of an existing object: alice's running target execution
  // and her Active grant.
  await eventually('target-execution Running', async () => (await getAny('execution', 'target-execution'))?.status?.phase === 'Running', 60_000);
  await eventually('ok-grant Active', async () => (await getAny('grant', 'ok-grant'))?.status?.state === 'Active', 45_000);
  const stops: Array<[Operation, Kind, string, object, object]> = [
    ['agent_machine.execution.cancel', 'execution', 'target-execution', { cancel: true }, { containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', 'echo the impostor runs this under alice'] }] }],
    ['agent_machine.tool_grant.revoke', 'grant', 'ok-grant', { revoked: true, revocationReason: 'impostor' }, { actions: ['read', 'write', 'admin'] }],
  ];
  for (const [op, kind, name, stop, widen] of stops) {
    const before = await getAny(kind, name);
    // No authority: dropping the delegation in the same update.
    assertRejected(cellKey(op, 'no authority'), await patch('alice', kind, name, { spec: { ...stop, authority: null } }), REQUIRED);
    record(op, 'no authority', 'admission');
    // Delegator mismatch: someone else stopping it while rewriting what runs under alice's
    // delegation, or while changing her delegation (here: to another agent).
    assertRejected(cellKey(op, 'delegator mismatch'), await patch(IMPOSTOR, kind, name, { spec: { ...stop, ...widen } }), /others may only cancel or revoke/);
    assertRejected(cellKey(op, 'delegator mismatch'), await patch(IMPOSTOR, kind, name, { spec: { ...stop, authority: { ...before.spec.authority, delegate: 'agent:impostor' } } }), MISMATCH(IMPOSTOR));
    record(op, 'delegator mismatch', 'admission');
    // Without RBAC to change the object at all.
    assertRejected(cellKey(op, 'delegator without RBAC'), await patch(NOBODY, kind, name, { spec: stop }), new RegExp(`User "${NOBODY}" cannot (get|patch) resource "${PLURAL[kind]}"`));
    record(op, 'delegator without RBAC', 'admission');
    const afterwards = await getAny(kind, name);
    assert.deepEqual(afterwards.spec, before.spec, `${op}: the rejected updates changed nothing`);
    assert.equal(afterwards.metadata.generation, before.metadata.generation);
  }
}

function printMatrix(t: { diagnostic(msg: string): void }): void {
  const notes: string[] = [];
  const cell = (op: Operation, control: Control): string => {
    const r = results.get(cellKey(op, control)) ?? 'MISSING';
    if (!r.startsWith('n/a')) return r;
    let i = notes.indexOf(r.slice(5, -1));
    if (i < 0) i = notes.push(r.slice(5, -1)) - 1;
    return `n/a [${i + 1}]`;
  };
  const rows = OPERATIONS.map((op) => [op.replace('agent_machine.', ''), ...CONTROLS.map((c) => cell(op, c))]);
  const header = ['operation', ...CONTROLS];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    '',
    'admission: the API server rejected the request (schema, admission policy or RBAC); its rejection is the record.',
    'held: accepted but waiting (Pending, audited as queued): nothing starts until the profile exists, and then every gate is checked.',
    ...notes.map((n, i) => `[${i + 1}] ${n}`),
    ...[...midRun].map(([cell, r]) => `${cell}: ${r}`),
  ].join('\n');
  console.log(`\nNo-ambient-authority matrix\n${out}\n`);
  const count = (prefix: string) => [...results.values()].filter((r) => r.startsWith(prefix)).length;
  t.diagnostic(`${count('refused')} refused+audited, ${count('held')} held+audited, ${count('admission')} admission, ${count('n/a')} n/a`);
}
