import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { buildBundle, DEFAULT_INCLUDE, type BundleSources, type BuildOptions } from '../../../src/diagnostics/bundle.ts';
import { readTar } from '../../../src/diagnostics/tar.ts';
import { entryFor, GENESIS_HASH } from '../../../src/governance/audit-log.ts';
import { allow } from '../../../src/governance/decision.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../support/upstream.ts';

const SECRET = 'sup3r-s3cret-from-a-Secret';
const NOW = new Date('2026-06-01T12:00:00Z');
const authority = { delegator: 'alice', delegate: 'agent:a', scopes: ['agent_machine.execution.*'], expiresAt: '2030-01-01T00:00:00Z', purpose: 'p' };

function sources(over: Partial<BundleSources> = {}): BundleSources {
  return {
    objects: [
      {
        apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
        kind: 'LocalAgentExecution',
        metadata: {
          name: 'run-1',
          namespace: 'ns',
          uid: 'uid-ex',
          managedFields: [{ manager: 'kubectl' }],
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"spec":{"env":"API_KEY=${SECRET}"}}`, note: 'kept' },
        },
        spec: {
          profileRef: { name: 'p' },
          authority,
          containers: [{ name: 'agent', image: 'localhost/x', command: ['sh', '-c', `echo ${SECRET}`], env: [{ name: 'API_KEY', value: 'literal-key-1' }, { name: 'FROM', valueFrom: { secretKeyRef: { name: 'creds', key: 'k' } } }] }],
        },
        status: { phase: 'Succeeded', conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'all containers exited 0', lastTransitionTime: '2026-06-01T11:00:00Z' }], budget: { used: { tokens: 12 } } },
      } as any,
      {
        apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
        kind: 'ContainerExecutionRecord',
        metadata: { name: 'run-1-agent', namespace: 'ns', uid: 'uid-rec' },
        spec: { profileRef: { name: 'p' }, authority, container: { image: 'localhost/x' } },
        status: { phase: 'Succeeded', exitCode: 0, logTail: `hello\nAPI_KEY=literal-key-1\n${Buffer.from(SECRET).toString('base64')}\n` },
      } as any,
    ],
    events: [{ metadata: { name: 'e1', managedFields: [] }, regarding: { kind: 'LocalAgentExecution', name: 'run-1', uid: 'uid-ex' }, reason: 'Started', note: 'container started', type: 'Normal' }],
    logs: [{ record: 'run-1-agent', text: `hello\nAPI_KEY=literal-key-1\n${encodeURIComponent(SECRET)}\n{"messages":[{"role":"user","content":"a private prompt"}]}\n` }],
    audit: [`{"seq":1,"operationType":"agent_machine.execution.start","object":{"kind":"LocalAgentExecution","name":"run-1","uid":"uid-ex"},"outcome":"started","reason":"admitted"}\n`],
    controller: { version: '0.1.0', config: { runtime: 'docker' } },
    runtime: { defaultRuntime: 'docker', runtimes: { docker: { reachable: true, version: 'podman 5' } } },
    metrics: '# HELP agent_machine_reconcile_total x\nagent_machine_reconcile_total{kind="LocalAgentExecution",result="success"} 3\n',
    notes: ['execution missing-one not found in namespace ns'],
    ...over,
  };
}

const opts = (over: Partial<BuildOptions> = {}): BuildOptions => ({
  scope: { namespace: 'ns', executions: ['run-1'] },
  include: { ...DEFAULT_INCLUDE },
  secretValues: [SECRET],
  generator: { via: 'cli', version: '0.1.0' },
  now: NOW,
  ...over,
});

function untar(tarGz: Buffer): Map<string, string> {
  return new Map(readTar(gunzipSync(tarGz)).map((e) => [e.path, e.data.toString('utf8')]));
}

test('the bundle holds statuses, events, log tails, audit, controller, runtime and metrics, and is useful', () => {
  const r = buildBundle(sources(), opts());
  assert.ok(r.ok, !r.ok ? r.message : '');
  const files = untar(r.tarGz);
  assert.deepEqual([...files.keys()], [
    'manifest.json',
    'audit.jsonl',
    'controller.json',
    'events.json',
    'logs/run-1-agent.txt',
    'metrics.txt',
    'objects/ContainerExecutionRecord/run-1-agent.yaml',
    'objects/LocalAgentExecution/run-1.yaml',
    'runtime.json',
  ]);
  const ex = parse(files.get('objects/LocalAgentExecution/run-1.yaml')!) as any;
  assert.equal(ex.status.phase, 'Succeeded');
  assert.equal(ex.status.conditions[0].message, 'all containers exited 0');
  assert.equal(ex.status.budget.used.tokens, 12);
  assert.equal(ex.metadata.managedFields, undefined);
  assert.deepEqual(ex.metadata.annotations, { note: 'kept' });
  assert.equal(ex.spec.containers[0].env[0].value, '[REDACTED:sensitiveKey]');
  assert.deepEqual(ex.spec.containers[0].env[1].valueFrom, { secretKeyRef: { name: 'creds', key: 'k' } });
  const rec = parse(files.get('objects/ContainerExecutionRecord/run-1-agent.yaml')!) as any;
  assert.match(rec.status.logTail, /^hello\n/);
  const events = JSON.parse(files.get('events.json')!);
  assert.equal(events[0].reason, 'Started');
  assert.equal(events[0].metadata.managedFields, undefined);
  assert.match(files.get('logs/run-1-agent.txt')!, /^hello\nAPI_KEY=\[REDACTED:sensitiveKey\]\n\[REDACTED:secretValue\]\n\{"messages":\[\{"role":"user","content":"sha256:[0-9a-f]{64} len=16"\}\]\}\n$/);
  assert.equal(JSON.parse(files.get('audit.jsonl')!.trim()).outcome, 'started');
  assert.match(files.get('metrics.txt')!, /agent_machine_reconcile_total\{kind="LocalAgentExecution",result="success"\} 3/);

  const manifest = JSON.parse(files.get('manifest.json')!);
  assert.equal(manifest.kind, 'DiagnosticBundleManifest');
  assert.deepEqual(manifest.scope, { namespace: 'ns', executions: ['run-1'] });
  assert.equal(manifest.credentialsIncluded, false);
  assert.equal(manifest.tokensIncluded, false);
  assert.equal(manifest.localSecretsIncluded, false);
  assert.equal(manifest.sensitivePromptsIncluded, false);
  assert.deepEqual(manifest.redactionReport, r.report);
  assert.ok(r.report.secretValue! >= 3, JSON.stringify(r.report)); // command, logTail (base64), log (URL-encoded)
  assert.ok(r.report.sensitiveKey! >= 3);
  assert.equal(r.report.prompt, 2); // the log's chat message, the command's free-text argument
  assert.deepEqual(ex.spec.containers[0].command.slice(0, 2), ['sh', '-c']);
  assert.match(ex.spec.containers[0].command[2], /^sha256:[0-9a-f]{64} len=27$/); // the digest of "echo [REDACTED:secretValue]": no guess of the Secret can be confirmed
  assert.deepEqual(manifest.notes, ['execution missing-one not found in namespace ns']);
  for (const f of manifest.files) assert.equal(createHash('sha256').update(files.get(f.path)!).digest('hex'), f.sha256, f.path);
  assert.equal(r.digest, `sha256:${createHash('sha256').update(r.tarGz).digest('hex')}`);
  for (const content of files.values()) {
    assert.ok(!content.includes(SECRET) && !content.includes('literal-key-1') && !content.includes('a private prompt'));
  }
});

test('the same inputs give the same bytes (digest is reproducible)', () => {
  const a = buildBundle(sources(), opts());
  const b = buildBundle(sources(), opts());
  assert.ok(a.ok && b.ok);
  assert.equal(a.digest, b.digest);
});

test('include flags leave parts out', () => {
  const r = buildBundle(sources(), opts({ include: { ...DEFAULT_INCLUDE, logs: false, metrics: false, audit: false } }));
  assert.ok(r.ok);
  const files = untar(r.tarGz);
  assert.ok(!files.has('logs/run-1-agent.txt') && !files.has('metrics.txt') && !files.has('audit.jsonl'));
});

test('fails closed when a known value would remain (it cannot be scrubbed out of the placeholders)', () => {
  // A secret value equal to placeholder vocabulary is skipped by the redactor; the final
  // check still finds it outside the placeholders.
  const r = buildBundle(sources({ logs: [{ record: 'x', text: 'the word secretValue appears here' }] }), opts({ secretValues: [SECRET, 'secretValue'] }));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'LeakDetected');
  assert.ok(!r.ok && !r.message.includes(SECRET));
});

test('fails closed when the redactor errors', () => {
  const evil = { kind: 'LocalAgentExecution', metadata: { name: 'evil' }, spec: { get boom() { throw new Error('getter exploded'); } } };
  const r = buildBundle(sources({ objects: [evil as any] }), opts());
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'RedactionFailed');
});

test('agent -p "<prompt>": free-text arguments become digests, flags stay; known prompts go; flags come from the check', async () => {
  const { PromptFingerprints } = await import('../../../src/redaction/prompt-matcher.ts');
  const long = 'Please refactor the billing module so that invoices are generated nightly';
  const base = sources();
  const ex = structuredClone(base.objects[0]) as any;
  ex.spec.containers[0].command = ['agent', '-p', long, '--model=gpt-4o', `--prompt=${long}`, '/workspace/run.sh'];
  ex.spec.containers[0].env.push({ name: 'TASK', value: long });
  const prompts = new PromptFingerprints();
  const echoed = 'the gateway forwarded this exact prompt about the payroll export';
  prompts.add(echoed);
  const r = buildBundle(sources({ objects: [ex, base.objects[1]!], logs: [{ record: 'run-1-agent', text: `echo: ${echoed}\n` }] }), opts({ prompts }));
  assert.ok(r.ok, !r.ok ? r.message : '');
  const files = untar(r.tarGz);
  const cmd = (parse(files.get('objects/LocalAgentExecution/run-1.yaml')!) as any).spec.containers[0].command;
  assert.deepEqual([cmd[0], cmd[1], cmd[3], cmd[5]], ['agent', '-p', '--model=gpt-4o', '/workspace/run.sh']);
  assert.match(cmd[2], new RegExp(`^sha256:[0-9a-f]{64} len=${long.length}$`));
  assert.match(cmd[4], new RegExp(`^--prompt=sha256:[0-9a-f]{64} len=${long.length}$`));
  assert.match(files.get('logs/run-1-agent.txt')!, /^echo: sha256:[0-9a-f]{64} len=\d+\n$/);
  for (const content of files.values()) assert.ok(!content.includes('refactor the billing') && !content.includes('payroll export'));
  assert.deepEqual(r.flags, { credentialsIncluded: false, tokensIncluded: false, localSecretsIncluded: false, sensitivePromptsIncluded: false });
});

test('a leak the check finds sets its flag (and no bundle is written)', () => {
  const r = buildBundle(sources({ logs: [{ record: 'x', text: 'the word secretValue appears here' }] }), opts({ secretValues: [SECRET, 'secretValue'] }));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.flags?.localSecretsIncluded, true);
  assert.equal(!r.ok && r.flags?.sensitivePromptsIncluded, false);
});

test('with the device known, the bundle carries the upstream records: prophet-core per object, the LocalOperationLog of its audit entries, valid upstream', (t) => {
  const entry = entryFor(
    { operationType: 'agent_machine.execution.start', commandRef: 'urn:srcos:workspace-operation-command:execution-start-uid-ex', object: { kind: 'LocalAgentExecution', namespace: 'ns', name: 'run-1', uid: 'uid-ex' }, actor: 'alice', delegate: 'agent:a', outcome: 'started', reason: `admitted; env had ${SECRET}`, decisions: [allow('authority', 'authority.rbac', 'alice may create pods')] },
    { seq: 0, hash: GENESIS_HASH },
    NOW,
  );
  const r = buildBundle(sources({ audit: [`${JSON.stringify(entry)}\n`], device: { clusterUid: 'c-uid', node: 'n1' }, auditStore: 'cluster' }), opts());
  assert.ok(r.ok, !r.ok ? r.message : '');
  const files = untar(r.tarGz);
  const prophet = JSON.parse(files.get('records/prophet-core/LocalAgentExecution/run-1.json')!);
  assert.ok(files.has('records/prophet-core/ContainerExecutionRecord/run-1-agent.json'));
  assert.equal(prophet.operationEvents.length, 1);
  assert.equal(prophet.operationEvents[0].event_id, 'urn:srcos:agent-machine:audit-entry:1');
  const log = files.get('records/local-operation-log.jsonl')!.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.length, 1);
  assert.equal(log[0].integrity.entryHash, `sha256:${entry.hash}`);
  assert.equal(log[0].durabilityTier, 'synced');
  for (const content of files.values()) assert.ok(!content.includes(SECRET), 'records are redacted like every file');
  assert.match(log[0].payload.reason, /\[REDACTED:secretValue\]/);
  const dir = referenceDir();
  if (!dir) return t.skip(REFERENCE_MISSING);
  assert.deepEqual(validateReference(dir, 'SocioProphet__prophet-core-contracts/schemas/workspace-operation.schema.json', prophet.workspaceOperation), []);
  for (const e of prophet.operationEvents) assert.deepEqual(validateReference(dir, 'SocioProphet__prophet-core-contracts/schemas/operation-task-event.schema.json', e, 'OperationEvent'), []);
  assert.deepEqual(validateReference(dir, 'SourceOS-Linux__sourceos-spec/schemas/LocalOperationLog.json', log[0]), []);
});

test('without the device, no records/ (callers that do not read the cluster)', () => {
  const r = buildBundle(sources(), opts());
  assert.ok(r.ok);
  assert.ok(![...untar(r.tarGz).keys()].some((p) => p.startsWith('records/')));
});
