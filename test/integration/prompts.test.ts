// No prompt text leaves through log tails, status, Events or bundles (issue 14 item 7): an
// agent in real podman sends a prompt through the real gateway (the OpenAI-compatible test
// server behind it, whose answer quotes the prompt) and then echoes it, whole and a partial
// line, to stdout. The record's log tail, both objects' statuses, the Events and a bundle
// exported after the execution finished (the gateway has dropped its prompts by then) hold no
// part of it. An agent started as `agent -p "<long prompt>"` shows a digest in the bundle's
// objects, not the text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubectl, kubeconfigPath, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix } from '../support/objects.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../support/openai-test-server.ts';
import { readTar } from '../../src/diagnostics/tar.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/agent-machine.js', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'am-prompts-'));
const auditLog = path.join(dir, 'audit.jsonl');
const id = suffix();
const MiB = 1024 * 1024;
const UPSTREAM_KEY = `sk-upstream-${randomBytes(16).toString('hex')}`;
const PROFILE = `prompts-personal-${id}`;
const PROMPT = `Draft a migration plan for the ledger service ${id} keeping the nightly reconciliation job intact`;
const PARTIAL = PROMPT.slice(8, 52);
const CLI_PROMPT = `Refactor the invoice generator ${id} so that every customer gets one consolidated statement per month`;
/** Pieces that must appear nowhere (each longer than the matcher's minimum fragment). */
const PIECES = [PROMPT, PARTIAL, PROMPT.slice(0, 30), PROMPT.slice(-30), CLI_PROMPT.slice(0, 30), CLI_PROMPT.slice(-30)];
let ns = '';
let upstream: OpenAiTestServer;
let controller: ControllerProcess;

function execution(name: string, command: string[], binding = true) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: PROFILE },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
      containers: [{ name: 'agent', image: sandboxImage(), command }],
      ...(binding ? { modelProviderRef: { name: 'llm' } } : {}),
      budget: { wallClockSeconds: 90, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 60 },
    },
  };
}

const waitSucceeded = (name: string) =>
  eventually(`${name} Succeeded`, async () => {
    const s = (await getObject<any>('LocalAgentExecution', name, ns))?.status;
    if (s?.phase && ['Failed', 'Cancelled', 'Denied'].includes(s.phase)) throw new Error(`${name} ended ${s.phase}: ${JSON.stringify(s.conditions)}`);
    return s?.phase === 'Succeeded' ? s : undefined;
  }, 90_000);

function leaked(text: string): string[] {
  const lower = text.toLowerCase();
  return PIECES.filter((p) => lower.includes(p.toLowerCase())).map((p) => `${p.slice(0, 12)}… (${p.length} chars)`);
}

before(async () => {
  await installApi();
  ns = await createNamespace('prompts');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  upstream = await startOpenAiTestServer({ apiKey: UPSTREAM_KEY, models: ['test-model'] });
  const profile = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name: PROFILE },
    spec: {
      profileType: 'personal',
      authority: authority('alice', ['agent_machine.profile.create']),
      budgetCeilings: { modelCalls: 20, tokens: 100_000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 120, agentConcurrency: 8 },
    },
  };
  assert.equal((await createAs('alice', profile)).code, 0);
  await kubectl(['create', 'secret', 'generic', 'llm-key', '-n', ns, `--from-literal=apiKey=${UPSTREAM_KEY}`]);
  controller = await startControllerProcess({ auditLogPath: auditLog, args: ['--gateway-bind-address', '0.0.0.0:0'] });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${PROFILE}`]);
  const binding = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ModelProviderBinding',
    metadata: { name: 'llm', namespace: ns },
    spec: { profileRef: { name: PROFILE }, provider: 'openai-compatible', endpoint: upstream.url, model: 'test-model', credentialsSecretRef: { name: 'llm-key', key: 'apiKey' }, owner: 'alice', authority: authority('alice', ['agent_machine.model_provider.bind']) },
  };
  assert.equal((await createAs('alice', binding)).code, 0);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', '-n', ns, 'modelproviderbinding/llm']);
});

after(async () => {
  await controller?.kill('SIGTERM');
  await upstream?.close();
});

test('a prompt sent through the gateway and echoed (whole, a partial line, quoted in the answer) is in no log tail, status, Event or bundle', async () => {
  const script = [
    'sleep 1',
    `wget -q -O /tmp/answer.json --header "Authorization: Bearer $OPENAI_API_KEY" --header 'Content-Type: application/json' --post-data '{"messages":[{"role":"user","content":"${PROMPT}"}]}' "$OPENAI_BASE_URL/chat/completions"`,
    `sed -n 's/.*"content":"\\([^"]*\\)".*/reply: \\1/p' /tmp/answer.json`,
    `echo "my prompt was: ${PROMPT}"`,
    `echo "partial: ${PARTIAL}"`,
    'echo "done-marker"',
  ].join('\n');
  assert.equal((await createAs('alice', execution('echoes', ['sh', '-c', script]))).code, 0);
  const status = await waitSucceeded('echoes');
  assert.ok(upstream.requests.some((r) => r.body?.messages?.[0]?.content === PROMPT), 'the prompt reached the provider');
  const rec = await getObject<any>('ContainerExecutionRecord', 'echoes-agent', ns);
  const tail: string = rec.status.logTail;
  assert.match(tail, /done-marker/);
  assert.match(tail, /reply: Hello from the test model\. You said: sha256:[0-9a-f]{64} len=\d+/, tail);
  assert.match(tail, /my prompt was: sha256:[0-9a-f]{64} len=\d+\npartial: sha256:[0-9a-f]{64} len=\d+\n/, tail);
  assert.deepEqual(leaked(tail), [], tail);
  assert.deepEqual(leaked(JSON.stringify(rec.status)), []);
  assert.deepEqual(leaked(JSON.stringify(status)), []);
  const events = (await kubectl(['get', 'events', '-n', ns, '-o', 'json'])).stdout;
  assert.deepEqual(leaked(events), []);
  assert.deepEqual(leaked(readFileSync(auditLog, 'utf8')), []);

  // Exported after the execution finished: the gateway has forgotten the prompt by now. As an
  // admin: the binding's credential Secret must be readable to be scrubbed.
  const out = path.join(dir, 'echoes.tar.gz');
  await run(process.execPath, [BIN, 'diagnostics', 'export', '-n', ns, '--execution', 'echoes', '-o', out, '--kubeconfig', kubeconfigPath(), '--audit-log', auditLog], { maxBuffer: 16 * MiB });
  const files = new Map(readTar(gunzipSync(readFileSync(out))).map((e) => [e.path, e.data.toString('utf8')]));
  assert.match(files.get('logs/echoes-agent.txt')!, /done-marker/);
  for (const [file, content] of files) assert.deepEqual(leaked(content), [], file);
  const manifest = JSON.parse(files.get('manifest.json')!);
  for (const flag of ['credentialsIncluded', 'tokensIncluded', 'localSecretsIncluded', 'sensitivePromptsIncluded']) assert.equal(manifest[flag], false, flag);
});

test('agent -p "<long prompt>": the bundle\'s objects show a digest, not the text; short flags stay readable', async () => {
  const command = ['sh', '-c', 'echo "agent started with $# arguments"', 'agent', '-p', CLI_PROMPT];
  assert.equal((await createAs('alice', execution('cli-agent', command, false))).code, 0);
  await waitSucceeded('cli-agent');
  const bundle = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineDiagnosticBundle',
    metadata: { name: 'cli-agent-bundle', namespace: ns },
    spec: { scope: { executions: ['cli-agent'] }, authority: authority('alice', ['agent_machine.diagnostics.export_redacted']) },
  };
  const out = path.join(dir, 'cli-agent.tar.gz');
  await run(process.execPath, [BIN, 'diagnostics', 'export', '-n', ns, '--execution', 'cli-agent', '-o', out, '--kubeconfig', kubeconfigPath('alice')], { maxBuffer: 16 * MiB });
  assert.equal((await createAs('alice', bundle)).code, 0);
  const status = await eventually('bundle Ready', async () => {
    const s = (await getObject<any>('AgentMachineDiagnosticBundle', 'cli-agent-bundle', ns))?.status;
    if (s?.phase === 'Failed' || s?.phase === 'Denied') throw new Error(`bundle ${s.phase}: ${JSON.stringify(s.conditions)}`);
    return s?.phase === 'Ready' ? s : undefined;
  }, 30_000);
  for (const flag of ['credentialsIncluded', 'tokensIncluded', 'localSecretsIncluded', 'sensitivePromptsIncluded']) assert.equal(status[flag], false, flag);
  const files = new Map(readTar(gunzipSync(readFileSync(out))).map((e) => [e.path, e.data.toString('utf8')]));
  for (const [file, content] of files) assert.deepEqual(leaked(content), [], file);
  const digest = new RegExp(`^sha256:[0-9a-f]{64} len=${CLI_PROMPT.length}$`);
  const ex = parse(files.get('objects/LocalAgentExecution/cli-agent.yaml')!) as any;
  assert.deepEqual(ex.spec.containers[0].command.slice(0, 2), ['sh', '-c']);
  assert.deepEqual(ex.spec.containers[0].command.slice(3, 5), ['agent', '-p']);
  assert.match(ex.spec.containers[0].command[5], digest);
  const rec = parse(files.get('objects/ContainerExecutionRecord/cli-agent-agent.yaml')!) as any;
  assert.match(rec.spec.container.command[5], digest);
  assert.match(files.get('logs/cli-agent-agent.txt')!, /agent started with 2 arguments/);
});
