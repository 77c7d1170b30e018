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
import { upstreamContractsDir, UPSTREAM_MISSING, validateUpstreamContract } from '../support/upstream.ts';
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

const contractValidator = new ContractValidator();
function validateOurs(doc: unknown): string[] {
  return contractValidator.validateContract(doc).map((i) => `${i.path} ${i.message}`);
}
const validateUpstream = validateUpstreamContract;
