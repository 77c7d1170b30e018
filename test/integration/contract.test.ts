// `agent-machine contract` against the real API server: one object of every kind, created from
// the examples as alice (the delegator they name), exported by the real CLI and checked against
// the upstream SourceOS schema and ours. No controller runs here, so every object is still
// unreconciled: the contract shows the queued primary operation and only declared events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

import { KINDS, type KindName } from '../../src/api/group.ts';
import { operationIds } from '../../src/api/operation.ts';
import { contractIdFor, isDeclaredEvent, primaryOperationType, type WorkspaceOperationContract } from '../../src/api/workspace-operation-contract.ts';
import { grantEditorRole, installApi } from '../support/install.ts';
import { kubeconfigPath, kubectl } from '../support/integration-env.ts';
import { suffix } from '../support/objects.ts';
import { referenceDir, REFERENCE_MISSING, upstreamContractsDir, UPSTREAM_MISSING, validateReference, validateUpstreamContract } from '../support/upstream.ts';
import type { OperationType, PolicyDecision } from '../../src/api/types.generated.ts';
import { deviceIdFor } from '../../src/api/upstream-records/common.ts';
import { AuditLog, type AuditEntry, type AuditOutcome } from '../../src/governance/audit-log.ts';
import { allow } from '../../src/governance/decision.ts';
import { ContractValidator } from '../../src/api/validation.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/agent-machine.js');
const USER = 'alice';
const id = suffix();
const NS = `contract-${id}`;
const PERSONAL = `contract-${id}-personal`;
const LOCAL_MODEL = `contract-${id}-local-model`;

/** Example file, and the profile it is re-pointed at (the examples' profile names are shared cluster-wide). */
const OBJECTS: Record<KindName, { file: string; profile?: string }> = {
  AgentMachineProfile: { file: 'profiles/personal.yaml' },
  ToolGrantRecord: { file: 'tool-grants/github-issues.yaml', profile: LOCAL_MODEL },
  LocalAgentExecution: { file: 'executions/hello-agent.yaml', profile: PERSONAL },
  ContainerExecutionRecord: { file: 'containers/sandbox-smoke.yaml', profile: PERSONAL },
  ModelProviderBinding: { file: 'model-providers/local-ollama.yaml', profile: LOCAL_MODEL },
  AgentMachineDiagnosticBundle: { file: 'diagnostics/namespace-bundle.yaml' },
};

/** `kubectl create -o name` output per kind, e.g. toolgrantrecord.agentmachine.sourceos.dev/issue-triage-github. */
const refs = new Map<KindName, string>();

function example(file: string): any {
  return parse(readFileSync(path.join(ROOT, 'examples', file), 'utf8'));
}



interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function contractCli(args: string[], kubeconfig = kubeconfigPath()): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'contract', ...args, '--kubeconfig', kubeconfig],
      // KUBECONFIG pinned too, so nothing can fall back to a real cluster.
      { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function contractOf(args: string[], kubeconfig?: string): Promise<WorkspaceOperationContract> {
  const result = await contractCli(args, kubeconfig);
  assert.equal(result.code, 0, `agent-machine contract ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as WorkspaceOperationContract;
}

async function uidOf(ref: string): Promise<string> {
  const { stdout } = await kubectl(['get', ref, '-n', NS, '-o', 'jsonpath={.metadata.uid}']);
  return stdout.trim();
}

before(async () => {
  await installApi();
  await grantEditorRole(USER);
  await kubectl(['create', 'namespace', NS]);
  const profiles = [
    { ...example('profiles/personal.yaml'), metadata: { name: PERSONAL } },
    { ...example('profiles/local-model-provider.yaml'), metadata: { name: LOCAL_MODEL } },
  ];
  const objects = KINDS.filter((k) => k !== 'AgentMachineProfile').map((kind) => {
    const { file, profile } = OBJECTS[kind];
    const obj = example(file);
    obj.metadata.namespace = NS;
    if (profile) obj.spec.profileRef = { name: profile };
    return obj;
  });
  // As alice: the admission policy requires the delegator the examples name to be the requester.
  const { stdout } = await kubectl(['create', '-o', 'name', '-f', '-'], {
    user: USER,
    stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...profiles, ...objects] }),
  });
  for (const line of stdout.trim().split('\n')) {
    const kind = KINDS.find((k) => line.startsWith(`${k.toLowerCase()}.`));
    assert.ok(kind, `unexpected kubectl output line ${line}`);
    if (!refs.has(kind)) refs.set(kind, line); // the personal profile comes first
  }
  assert.equal(refs.size, KINDS.length, stdout);
});

after(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
  await kubectl(['delete', 'agentmachineprofile', PERSONAL, LOCAL_MODEL, '--ignore-not-found']);
});

for (const kind of KINDS) {
  test(`${kind}: \`agent-machine contract <kubectl -o name>\` prints a contract valid upstream and against ours`, async (t) => {
    const ref = refs.get(kind)!;
    const contract = await contractOf([ref, '-n', NS]);
    assert.deepEqual(validateOurs(contract), []);

    const uid = await uidOf(ref);
    const type = primaryOperationType(kind);
    const ids = operationIds(uid, type);
    assert.equal(contract.id, contractIdFor(kind, uid));
    assert.deepEqual(contract.workspaceOperation, { operationId: ids.operationId, operationType: type, commandRef: ids.commandRef });
    assert.deepEqual(contract.operationTask, { taskId: ids.taskId, state: 'queued' });
    assert.equal(contract.controls.operationEvents.length, 6);
    assert.ok(contract.controls.operationEvents.every(isDeclaredEvent), 'nothing observed yet: every event is declared');

    const dir = upstreamContractsDir();
    if (!dir) return t.skip(UPSTREAM_MISSING);
    assert.deepEqual(validateUpstream(dir, contract), []);
  });
}

test('the referenced profile is read: its type, ceilings and gate appear in the contract', async () => {
  const grant = await contractOf([refs.get('ToolGrantRecord')!, '-n', NS]);
  assert.equal(grant.artifacts.agentMachineProfile.profileType, 'local_model_provider');
  assert.equal(grant.artifacts.modelProviderBinding.policyGateRef, `urn:srcos:policy-gate:agentmachineprofile:${LOCAL_MODEL}:modelProviderUse`);
  assert.equal(grant.controls.budget.tokens, example('profiles/local-model-provider.yaml').spec.budgetCeilings.tokens);

  const execution = await contractOf([refs.get('LocalAgentExecution')!, '-n', NS]);
  assert.equal(execution.artifacts.agentMachineProfile.profileType, 'personal');
  assert.deepEqual(execution.controls.budget, { ...example('executions/hello-agent.yaml').spec.budget });
  assert.equal(execution.artifacts.localAgentExecution.delegationRef, `urn:srcos:delegation:localagentexecution:${NS}:hello-agent`);

  const binding = await contractOf([refs.get('ModelProviderBinding')!, '-n', NS]);
  assert.equal(binding.artifacts.modelProviderBinding.profileType, 'local_model_provider');
  assert.ok(!JSON.stringify(binding).includes('11434'), 'the endpoint stays out of the contract');
});

test('short names, plural, Kind and the two-argument form name the same object', async () => {
  const ref = refs.get('ToolGrantRecord')!;
  const name = ref.slice(ref.indexOf('/') + 1);
  const expected = await contractOf([ref, '-n', NS]);
  for (const args of [[`tgr/${name}`], [`toolgrant/${name}`], [`toolgrantrecords/${name}`], [`ToolGrantRecord/${name}`], ['tgr', name], [`toolgrantrecords.v1alpha1.agentmachine.sourceos.dev/${name}`]]) {
    const contract = await contractOf([...args, '-n', NS]);
    assert.equal(contract.id, expected.id, args.join(' '));
    assert.deepEqual(contract.audit, expected.audit, args.join(' '));
  }
  // A profile is cluster-scoped: -n does not matter.
  const profile = await contractOf([`amp/${PERSONAL}`, '-n', 'some-other-namespace']);
  assert.equal(profile.artifacts.agentMachineProfile.profileType, 'personal');
});

test("without -n the kubeconfig context's namespace is used; alice can export her own objects", async () => {
  const kubeconfig = parse(readFileSync(kubeconfigPath(USER), 'utf8')) as any;
  const current = kubeconfig.contexts.find((c: any) => c.name === kubeconfig['current-context']);
  current.context.namespace = NS;
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'am-contract-')), 'kubeconfig');
  writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });
  const contract = await contractOf([`mpb/local-ollama`], file);
  assert.equal(contract.id, contractIdFor('ModelProviderBinding', await uidOf(refs.get('ModelProviderBinding')!)));
});

test('unknown kinds, missing objects and malformed refs exit 1 with a clear message', async () => {
  const missing = await contractCli(['tgr/does-not-exist', '-n', NS]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, new RegExp(`toolgrantrecords.agentmachine.sourceos.dev "does-not-exist" not found in namespace "${NS}"`));

  const unknown = await contractCli(['pods/web', '-n', NS]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown kind "pods": expected one of AgentMachineProfile/);

  const noName = await contractCli(['toolgrantrecord', '-n', NS]);
  assert.equal(noName.code, 1);
  assert.match(noName.stderr, /expected KIND\/NAME/);
});

// --format: one real object per upstream record family, through the CLI, with a real audit
// chain (AuditLog, as the controller writes it) about the objects' real UIDs.
const RECORD_SCHEMAS = {
  operation: 'SocioProphet__prophet-core-contracts/schemas/workspace-operation.schema.json',
  taskEvent: 'SocioProphet__prophet-core-contracts/schemas/operation-task-event.schema.json',
  localAgentExecution: 'SociOS-Linux__workstation-contracts/schemas/workspace-ops/local-agent-execution.schema.json',
  agentRegistry: 'SocioProphet__agent-registry/contracts/workspace-operations/records.v0.1.schema.json',
  policyGate: 'SocioProphet__prophet-core-contracts/schemas/decision-policy-adapter.schema.json',
  localOperationLog: 'SourceOS-Linux__sourceos-spec/schemas/LocalOperationLog.json',
};

async function auditChainAboutObjects(): Promise<{ file: string; entries: AuditEntry[] }> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'am-contract-audit-')), 'audit.jsonl');
  const log = await AuditLog.open(file, { durability: 'none' });
  const entries: AuditEntry[] = [];
  const about = async (kind: KindName, operationType: OperationType, outcome: AuditOutcome, decisions: PolicyDecision[]) => {
    const ref = refs.get(kind)!;
    const uid = await uidOf(ref);
    entries.push(
      await log.append({
        operationType,
        commandRef: operationIds(uid, operationType).commandRef,
        object: { kind, namespace: NS, name: ref.slice(ref.indexOf('/') + 1), uid },
        actor: USER,
        delegate: 'agent:hello',
        outcome,
        reason: `${outcome} (test chain)`,
        decisions,
      }),
    );
  };
  await about('ToolGrantRecord', 'agent_machine.tool_grant.apply', 'allowed', [allow('authority', 'authority.rbac', 'alice may get secrets')]);
  await about('LocalAgentExecution', 'agent_machine.execution.start', 'started', [allow('authority', 'authority.rbac', 'alice may create pods'), allow('containerExecution', 'builtin.containers.registry', 'registry allowed')]);
  await about('LocalAgentExecution', 'agent_machine.execution.start', 'completed', []);
  await log.close();
  return { file, entries };
}

test('--format: every upstream record family through the CLI, valid against the reference schemas', async (t) => {
  const { file, entries } = await auditChainAboutObjects();
  const execution = refs.get('LocalAgentExecution')!;
  const grant = refs.get('ToolGrantRecord')!;
  const record = async (args: string[]) => {
    const result = await contractCli([...args, '-n', NS]);
    assert.equal(result.code, 0, `agent-machine contract ${args.join(' ')} failed:\n${result.stderr}`);
    return JSON.parse(result.stdout);
  };
  // Independent CLI runs: in parallel, to keep this file's added time small.
  const [prophet, lae, registry, gates, log, noAudit, wrongKind, kubeSystem, nodes, asAlice] = await Promise.all([
    record([execution, '--format', 'prophet-core', '--audit-log', file]),
    record([execution, '--format', 'local-agent-execution', '--audit-log', file]),
    record([grant, '--format', 'agent-registry', '--audit-log', file]),
    record([execution, '--format', 'policy-gate', '--audit-log', file]),
    record([execution, '--format', 'local-operation-log', '--audit-log', file]),
    contractCli([execution, '--format', 'local-operation-log', '-n', NS]),
    contractCli([grant, '--format', 'local-agent-execution', '-n', NS]),
    kubectl(['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}']),
    kubectl(['get', 'nodes', '-o', 'name']),
    // alice may not read kube-system: the device id falls back to the API server URL, saying so.
    contractCli([execution, '--format', 'local-agent-execution', '-n', NS], kubeconfigPath(USER)),
  ]);
  assert.deepEqual(prophet.operationEvents.map((e: any) => e.event_id), ['urn:srcos:agent-machine:audit-entry:2', 'urn:srcos:agent-machine:audit-entry:3']);
  assert.equal(prophet.workspaceOperation.status, 'queued', 'no controller ran: the object is unreconciled');
  const nodeNames = nodes.stdout.trim().split('\n').filter((n) => n !== '');
  const node = nodeNames.length === 1 ? nodeNames[0]!.replace(/^node\//, '') : 'cluster';
  assert.equal(lae.deviceId, deviceIdFor({ clusterUid: kubeSystem.stdout.trim(), node }));
  assert.equal(lae.evidenceRef, `urn:srcos:agent-machine:audit-entry:3#sha256:${entries[2]!.hash}`);
  assert.equal(registry.toolGrant.spec.evidenceRef, `urn:srcos:agent-machine:audit-entry:1#sha256:${entries[0]!.hash}`);
  assert.deepEqual(gates.map((g: any) => g.status), ['passed', 'passed'], 'allowed decisions are gate records too');
  assert.deepEqual(log.map((e: any) => e.integrity.entryHash), entries.slice(1).map((e) => `sha256:${e.hash}`));
  assert.equal(noAudit.code, 1);
  assert.match(noAudit.stderr, /made of audit entries: give --audit-log FILE or --audit-cluster/);
  assert.equal(wrongKind.code, 1);
  assert.match(wrongKind.stderr, /a LocalAgentExecution's; ToolGrantRecord has none/);
  assert.equal(asAlice.code, 0, asAlice.stderr);
  assert.match(asAlice.stderr, /cannot read namespace kube-system .*the device id is derived from the API server URL instead/);
  assert.notEqual(JSON.parse(asAlice.stdout).deviceId, lae.deviceId);

  const dir = referenceDir();
  if (!dir) {
    console.warn(REFERENCE_MISSING);
    return t.skip(REFERENCE_MISSING);
  }
  assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.operation, prophet.workspaceOperation), []);
  for (const task of prophet.operationTasks) assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.taskEvent, task, 'OperationTask'), []);
  for (const event of prophet.operationEvents) assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.taskEvent, event, 'OperationEvent'), []);
  assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.localAgentExecution, lae), []);
  assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.agentRegistry, registry.toolGrant, 'AgentToolGrant'), []);
  assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.agentRegistry, registry.revocation, 'AgentRevocationRecord'), []);
  for (const g of gates) assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.policyGate, g, 'PolicyGateRecord'), []);
  for (const e of log) assert.deepEqual(validateReference(dir, RECORD_SCHEMAS.localOperationLog, e), []);
});

test('--format with a tampered audit chain exits 1: records never cite entries that do not verify', async () => {
  const { file } = await auditChainAboutObjects();
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[1] = lines[1]!.replace('(test chain)', '(edited)');
  writeFileSync(file, lines.join('\n'));
  const result = await contractCli([refs.get('LocalAgentExecution')!, '--format', 'prophet-core', '--audit-log', file, '-n', NS]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /chain BROKEN at seq 2/);
});

const contractValidator = new ContractValidator();
function validateOurs(doc: unknown): string[] {
  return contractValidator.validateContract(doc).map((i) => `${i.path} ${i.message}`);
}
const validateUpstream = validateUpstreamContract;
