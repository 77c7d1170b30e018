// WorkspaceOperationContracts built from the examples of every kind, before the controller has
// touched them (no status) and after (a status as the reconcilers write it), checked against our
// schema and the upstream SourceOS one, which is read in place and never copied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { COMMON_SCHEMA_FILE, readSchemaFile } from '../../../src/api/contracts.ts';
import { KINDS, type KindName } from '../../../src/api/group.ts';
import { operationIds, nextOperation } from '../../../src/api/operation.ts';
import type { AgentMachineProfile, ContainerExecutionRecord, Operation, OperationEvent } from '../../../src/api/types.generated.ts';
import {
  buildWorkspaceOperationContract,
  contractIdFor,
  DECLARED_EVENT_PREFIX,
  isDeclaredEvent,
  KIND_OPERATION_TYPES,
  OPERATION_EVENT_TYPES,
  primaryOperationType,
  profileNameOf,
  type AgentMachineObject,
  type WorkspaceOperationContract,
} from '../../../src/api/workspace-operation-contract.ts';
import { upstreamContractsDir, UPSTREAM_MISSING, validateUpstreamContract } from '../../support/upstream.ts';
import { ContractValidator } from '../../../src/api/validation.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NOW = new Date('2026-05-07T12:00:00.000Z');
const AT = '2026-05-07T12:00:00Z';





function example(file: string): any {
  return parse(readFileSync(path.join(ROOT, 'examples', file), 'utf8'));
}

const EXAMPLE_OF: Record<KindName, string> = {
  AgentMachineProfile: 'profiles/corporate-firewall.yaml',
  ToolGrantRecord: 'tool-grants/github-issues.yaml',
  LocalAgentExecution: 'executions/issue-triage.yaml',
  ContainerExecutionRecord: 'tenants/acme-build.yaml',
  ModelProviderBinding: 'model-providers/hosted-openai.yaml',
  AgentMachineDiagnosticBundle: 'diagnostics/hello-agent-bundle.yaml',
};

let uidCounter = 0;
function withUid<T extends { metadata: Record<string, unknown> }>(obj: T): T {
  uidCounter++;
  return { ...obj, metadata: { ...obj.metadata, uid: `0c5d3f6e-1a2b-4c3d-8e9f-${String(uidCounter).padStart(12, '0')}` } };
}

function objectOf(kind: KindName): AgentMachineObject {
  return withUid(example(EXAMPLE_OF[kind]));
}

function profileFor(obj: AgentMachineObject): AgentMachineProfile | undefined {
  const name = profileNameOf(obj);
  if (obj.kind === 'AgentMachineProfile' || !name) return undefined;
  return withUid(example(`profiles/${name}.yaml`));
}

/** What a reconciler leaves behind: the projection built by nextOperation, one event per step. */
function reconciled<T extends AgentMachineObject>(obj: T, steps: Array<{ state: Operation['state']; eventType: OperationEvent['eventType']; details: string }>): T {
  let operation: Operation | undefined;
  let at = Date.parse('2026-05-07T00:00:00Z');
  for (const step of steps) {
    operation = nextOperation(
      operation,
      obj.metadata.uid!,
      { operationType: primaryOperationType(obj.kind), state: step.state, event: { eventType: step.eventType, details: step.details } },
      new Date((at += 60_000)),
    );
  }
  return { ...obj, status: { ...(obj.status ?? {}), operation } } as T;
}

function build(obj: AgentMachineObject, profile = profileFor(obj)): WorkspaceOperationContract {
  return buildWorkspaceOperationContract(obj, { profile, now: NOW });
}

for (const kind of KINDS) {
  for (const withStatus of [false, true]) {
    test(`${kind} ${withStatus ? 'with status' : 'before the first reconcile'}: the contract validates against our schema and upstream`, (t) => {
      let obj = objectOf(kind);
      if (withStatus) {
        obj = reconciled(obj, [
          { state: 'running', eventType: 'start', details: 'admitted under the delegation' },
          { state: 'completed', eventType: 'complete', details: 'done' },
        ]);
      }
      const contract = build(obj);
      assert.deepEqual(validateOurs(contract), []);
      assert.equal(contract.id, contractIdFor(kind, obj.metadata.uid!));
      const dir = upstreamContractsDir();
      if (!dir) return t.skip(UPSTREAM_MISSING);
      assert.deepEqual(validateUpstream(dir, contract), []);
    });
  }
}

test("the upstream example validates against upstream's schema (guards the harness itself)", (t) => {
  const dir = upstreamContractsDir();
  if (!dir) return t.skip(UPSTREAM_MISSING);
  const file = path.join(dir, '../examples/workspace-operation-contract.local-execution.json');
  if (!existsSync(file)) return t.skip(`${file} not found; SKIPPED`);
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual(validateUpstream(dir, doc), []);
});

test('before the first reconcile the operation is the queued primary one, with IDs from the UID', () => {
  for (const kind of KINDS) {
    const obj = objectOf(kind);
    const contract = build(obj);
    const ids = operationIds(obj.metadata.uid!, primaryOperationType(kind));
    assert.deepEqual(contract.workspaceOperation, { operationId: ids.operationId, operationType: primaryOperationType(kind), commandRef: ids.commandRef });
    assert.deepEqual(contract.operationTask, { taskId: ids.taskId, state: 'queued' });
  }
});

test('status.operation is projected as is', () => {
  const grant = objectOf('ToolGrantRecord');
  const revoke = operationIds(grant.metadata.uid!, 'agent_machine.tool_grant.revoke');
  const operation: Operation = { ...revoke, operationType: 'agent_machine.tool_grant.revoke', state: 'completed', events: [] };
  const contract = build({ ...grant, status: { operation } } as AgentMachineObject);
  assert.deepEqual(contract.workspaceOperation, { operationId: revoke.operationId, operationType: 'agent_machine.tool_grant.revoke', commandRef: revoke.commandRef });
  assert.deepEqual(contract.operationTask, { taskId: revoke.taskId, state: 'completed' });
  assert.equal(contract.artifacts.toolGrantRecord.revokeCommandRef, revoke.commandRef);
});

test('without observed events all six types are declared, stamped now, and say so', () => {
  const contract = build(objectOf('LocalAgentExecution'));
  const events = contract.controls.operationEvents;
  assert.deepEqual(events.map((e) => e.eventType), [...OPERATION_EVENT_TYPES]);
  for (const e of events) {
    assert.equal(e.at, AT);
    assert.ok(e.details?.startsWith(DECLARED_EVENT_PREFIX), e.details);
    assert.ok(e.details!.length > DECLARED_EVENT_PREFIX.length + 10, 'says what would emit it');
    assert.ok(isDeclaredEvent(e));
  }
});

test('observed events come first, unchanged and in order; only unobserved types are declared', () => {
  const obj = reconciled(objectOf('LocalAgentExecution'), [
    { state: 'running', eventType: 'start', details: 'admitted' },
    { state: 'running', eventType: 'progress', details: 'container agent created' },
    { state: 'retrying', eventType: 'failure', details: 'container exited 1' },
    { state: 'running', eventType: 'progress', details: 'attempt 2 started' },
    { state: 'completed', eventType: 'complete', details: 'container exited 0' },
  ]);
  const observed = obj.status!.operation!.events!;
  const events = build(obj).controls.operationEvents;
  assert.deepEqual(events.slice(0, observed.length), observed);
  const declared = events.slice(observed.length);
  assert.deepEqual(declared.map((e) => e.eventType), ['retry', 'cancel']);
  assert.ok(declared.every(isDeclaredEvent));
  assert.ok(!events.slice(0, observed.length).some(isDeclaredEvent), 'an observed event is never marked declared');
  const observedTypes = new Set(observed.map((e) => e.eventType));
  assert.ok(!declared.some((e) => observedTypes.has(e.eventType)), 'no declared entry for an observed type');
});

test('every kind lists its own commands and the grant apply/revoke commands, all auditable', () => {
  for (const kind of KINDS) {
    const obj = objectOf(kind);
    const profile = profileFor(obj);
    const commands = build(obj, profile).audit.auditableCommands;
    const types = commands.map((c) => c.operationType);
    assert.deepEqual(types.slice(0, KIND_OPERATION_TYPES[kind].length), [...KIND_OPERATION_TYPES[kind]], kind);
    assert.equal(new Set(types).size, types.length, `${kind}: no duplicates`);
    assert.ok(types.includes('agent_machine.tool_grant.apply') && types.includes('agent_machine.tool_grant.revoke'), kind);
    assert.ok(commands.every((c) => c.auditable === true));
    for (const c of commands) {
      const ownKind = KIND_OPERATION_TYPES[kind].includes(c.operationType);
      const keyUid = ownKind ? obj.metadata.uid! : (profile?.metadata.uid ?? obj.metadata.uid!);
      assert.equal(c.commandRef, operationIds(keyUid, c.operationType).commandRef, `${kind} ${c.operationType}`);
    }
  }
});

test('the budget: admitted for an execution, else fitted to the profile ceilings, else the request with 0s', () => {
  const execution = objectOf('LocalAgentExecution') as any;
  const personal = withUid(example('profiles/personal.yaml')) as AgentMachineProfile;
  const hello = withUid(example('executions/hello-agent.yaml'));
  assert.deepEqual(build(hello, personal).controls.budget, {
    modelCalls: 0,
    tokens: 0,
    connectorCalls: 0,
    cpuGpuComputeSeconds: 60,
    localDiskBytes: 104857600,
    sandboxMemoryBytes: 268435456,
    wallClockSeconds: 300,
    agentConcurrency: 1,
  });
  const admitted = { modelCalls: 1, tokens: 2, connectorCalls: 3, cpuGpuComputeSeconds: 4, localDiskBytes: 5, sandboxMemoryBytes: 6, wallClockSeconds: 7, agentConcurrency: 1 };
  const withStatus = { ...execution, status: { budget: { effective: admitted } } };
  assert.deepEqual(build(withStatus).controls.budget, admitted);
  assert.deepEqual(build(withStatus).artifacts.localAgentExecution.budget, admitted);

  // A container record asks for four dimensions; the other four take the profile's ceilings.
  const smoke = withUid(example('containers/sandbox-smoke.yaml'));
  const budget = build(smoke, personal).controls.budget;
  assert.equal(budget.sandboxMemoryBytes, 134217728);
  assert.equal(budget.modelCalls, personal.spec.budgetCeilings.modelCalls);

  const profile = objectOf('AgentMachineProfile') as AgentMachineProfile;
  assert.deepEqual(build(profile).controls.budget, profile.spec.budgetCeilings);
  // A grant asks for nothing: the profile's ceilings bound it.
  const grant = objectOf('ToolGrantRecord');
  assert.deepEqual(build(grant).controls.budget, profileFor(grant)!.spec.budgetCeilings);
  // No profile: the request, missing dimensions 0.
  assert.deepEqual(Object.values(build(objectOf('AgentMachineDiagnosticBundle')).controls.budget), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(buildWorkspaceOperationContract(smoke, { now: NOW }).controls.budget, {
    modelCalls: 0,
    tokens: 0,
    connectorCalls: 0,
    cpuGpuComputeSeconds: 30,
    localDiskBytes: 67108864,
    sandboxMemoryBytes: 134217728,
    wallClockSeconds: 120,
    agentConcurrency: 0,
  });
});

test('profile types: the governing profile, personal when unknown; model provider type from profile, binding or allowed hosts', () => {
  const cases: Array<[string, string | undefined, string, string]> = [
    // object, profile, agentMachineProfile.profileType, modelProviderBinding.profileType
    ['model-providers/local-ollama.yaml', 'local-model-provider', 'local_model_provider', 'local_model_provider'],
    ['model-providers/hosted-openai.yaml', 'hosted-model-provider', 'hosted_model_provider', 'hosted_model_provider'],
    ['model-providers/user-owned-anthropic.yaml', 'user-owned-model', 'user_owned_model', 'user_owned_model'],
    ['model-providers/local-llama-cpp.yaml', 'airgapped-local-only', 'airgapped_local_only', 'local_model_provider'],
    ['executions/hello-agent.yaml', 'personal', 'personal', 'hosted_model_provider'],
    ['tenants/acme-build.yaml', 'multi-corporate-firewall', 'multi_corporate_firewall', 'hosted_model_provider'],
    ['diagnostics/namespace-bundle.yaml', undefined, 'personal', 'hosted_model_provider'],
    ['profiles/airgapped-local-only.yaml', undefined, 'airgapped_local_only', 'local_model_provider'],
  ];
  for (const [file, profileName, profileType, modelType] of cases) {
    const obj = withUid(example(file));
    const profile = profileName ? (withUid(example(`profiles/${profileName}.yaml`)) as AgentMachineProfile) : undefined;
    const { artifacts } = build(obj, profile);
    assert.equal(artifacts.agentMachineProfile.profileType, profileType, file);
    assert.equal(artifacts.modelProviderBinding.profileType, modelType, file);
  }
  // A binding under a non-model profile is classified by its endpoint and owner.
  const binding = withUid(example('model-providers/user-owned-anthropic.yaml'));
  const personal = withUid(example('profiles/personal.yaml')) as AgentMachineProfile;
  const under = (spec: object) => build({ ...binding, spec: { ...binding.spec, ...spec, profileRef: { name: 'personal' } } }, personal);
  assert.equal(under({}).artifacts.modelProviderBinding.profileType, 'user_owned_model');
  assert.equal(under({ owner: 'team:ml' }).artifacts.modelProviderBinding.profileType, 'hosted_model_provider');
  assert.equal(under({ endpoint: 'http://127.0.0.1:11434' }).artifacts.modelProviderBinding.profileType, 'local_model_provider');
  // An execution under a profile that only allows local model hosts.
  const local = withUid(example('profiles/local-model-provider.yaml')) as AgentMachineProfile;
  const localOnly = { ...local, spec: { ...local.spec, profileType: 'corporate_firewall' as const } };
  const exec = withUid(example('executions/issue-triage.yaml'));
  assert.equal(build({ ...exec, spec: { ...exec.spec, profileRef: { name: 'local-model-provider' } } }, localOnly).artifacts.modelProviderBinding.profileType, 'local_model_provider');
});

test('delegation and policy gate refs name the object and its profile', () => {
  const grant = objectOf('ToolGrantRecord');
  const { artifacts } = build(grant);
  assert.equal(artifacts.localAgentExecution.delegationRef, 'urn:srcos:delegation:toolgrantrecord:default:issue-triage-github');
  assert.equal(artifacts.modelProviderBinding.policyGateRef, 'urn:srcos:policy-gate:agentmachineprofile:local-model-provider:modelProviderUse');
  const profile = build(objectOf('AgentMachineProfile')).artifacts;
  assert.equal(profile.localAgentExecution.delegationRef, 'urn:srcos:delegation:agentmachineprofile:corporate-firewall');
  assert.equal(build(objectOf('AgentMachineDiagnosticBundle')).artifacts.modelProviderBinding.policyGateRef, 'urn:srcos:policy-gate:modelProviderUse');
});

test('what the product supports comes from the common enums', () => {
  const defs = readSchemaFile(COMMON_SCHEMA_FILE)['$defs'] as Record<string, any>;
  const contract = build(objectOf('ModelProviderBinding'));
  assert.deepEqual(contract.supportedOperationTypes, defs['operationType'].enum);
  assert.deepEqual(contract.profiles.supported, defs['profileType'].enum);
  assert.deepEqual(Object.keys(contract.controls.policyGates), defs['policyGate'].enum);
  assert.deepEqual(contract.artifacts.requiredArtifacts, [...KINDS]);
});

test('no spec value that could be a secret reaches the contract', () => {
  const execution = objectOf('LocalAgentExecution');
  const binding = objectOf('ModelProviderBinding');
  const text = JSON.stringify([build(execution), build(binding)]);
  for (const value of ['alice-github', 'TRIAGE_LABELS', 'bug,enhancement', 'openai-team-key', 'api-key', 'api.openai.com', 'gpt-4o-mini', '/home/alice', 'Triage this week']) {
    assert.ok(!text.includes(value), `${value} leaked into the contract`);
  }
});

test('our schema rejects what upstream rejects (at least as strict)', (t) => {
  const good = build(reconciled(objectOf('LocalAgentExecution'), [{ state: 'running', eventType: 'start', details: 'admitted' }]));
  const mutations: Array<[string, (c: any) => void]> = [
    ['an event type missing', (c) => (c.controls.operationEvents = c.controls.operationEvents.filter((e: any) => e.eventType !== 'retry'))],
    ['ambient authority', (c) => (c.controls.ambientAuthority = true)],
    ['a policy gate off', (c) => (c.controls.policyGates.networkProfile = false)],
    ['a budget dimension missing', (c) => delete c.controls.budget.tokens],
    ['a negative budget', (c) => (c.artifacts.localAgentExecution.budget.tokens = -1)],
    ['a fractional budget', (c) => (c.controls.budget.wallClockSeconds = 1.5)],
    ['revoke not auditable', (c) => (c.audit.auditableCommands = c.audit.auditableCommands.filter((x: any) => x.operationType !== 'agent_machine.tool_grant.revoke'))],
    ['an operation type missing', (c) => c.supportedOperationTypes.pop()],
    ['a duplicated profile type', (c) => (c.profiles.supported[6] = 'personal')],
    ['an artifact missing', (c) => c.artifacts.requiredArtifacts.pop()],
    ['credentials in the bundle', (c) => (c.artifacts.agentMachineDiagnosticBundle.credentialsIncluded = true)],
    ['a non-model profile type for the binding', (c) => (c.artifacts.modelProviderBinding.profileType = 'personal')],
    ['an unknown state', (c) => (c.operationTask.state = 'paused')],
    ['an upper-case id', (c) => (c.id = c.id.toUpperCase())],
    ['external writes', (c) => (c.controls.durableWorkspaceState.externalWrites = true)],
    ['an extra field', (c) => (c.controls.secrets = [])],
    ['an unknown event type', (c) => (c.controls.operationEvents[0].eventType = 'paused')],
  ];
  const dir = upstreamContractsDir();
  for (const [what, mutate] of mutations) {
    const bad = structuredClone(good);
    mutate(bad);
    assert.notDeepEqual(validateOurs(bad), [], `ours accepts ${what}`);
    if (dir) assert.notDeepEqual(validateUpstream(dir, bad), [], `upstream accepts ${what} (mutation does not test strictness)`);
  }
  if (!dir) t.skip(UPSTREAM_MISSING);
});

test('a contract needs a UID and the profile the object references', () => {
  const grant = example(EXAMPLE_OF.ToolGrantRecord);
  assert.throws(() => build(grant, undefined), /metadata\.uid/);
  const wrong = withUid(example('profiles/personal.yaml')) as AgentMachineProfile;
  assert.throws(() => build(objectOf('ToolGrantRecord'), wrong), /references profile local-model-provider, not personal/);
});

const contractValidator = new ContractValidator();
function validateOurs(doc: unknown): string[] {
  return contractValidator.validateContract(doc).map((i) => `${i.path} ${i.message}`);
}
const validateUpstream = validateUpstreamContract;

test("a container record's contract stays valid upstream when it has outputs (their records travel in the prophet-core record)", () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const rec = objectOf('ContainerExecutionRecord') as ContainerExecutionRecord;
  const ended = { ...rec, status: { outputs: [{ name: 'report', stored: true, admitted: true, digest, size: 10, reason: 'Admitted', rule: 'artifactAccess' }] } } as ContainerExecutionRecord;
  const contract = build(ended);
  assert.equal('outputArtifacts' in contract.artifacts, false);
  assert.deepEqual(validateOurs(contract), []);
  const dir = upstreamContractsDir();
  if (dir) assert.deepEqual(validateUpstream(dir, contract), []);
});
