// Redacted diagnostics, end to end: Secrets and credentials are planted in executions (env
// secretKeyRef, literal API_KEY=..., commands) that really run in podman under the real
// controller and print them — plain, base64, URL-encoded, hex, JSON-escaped, inside prompt
// JSON — into their log tails. Then the bundle is exported twice, with the CLI (as the user)
// and in-cluster (AgentMachineDiagnosticBundle → ConfigMaps), unpacked, and searched: no
// planted value may appear in any file, not even after decoding base64/URL/hex substrings,
// and the redaction report must count at least what was planted, per category.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { installApi, grantEditorRole } from '../support/install.ts';
import { revokeEditorRole } from '../support/install.ts';
import { kubectl, kubeconfigPath } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createAs, createNamespace, eventually, getObject, suffix, testExecution } from '../support/objects.ts';
import { readTar } from '../../src/diagnostics/tar.ts';
import { listBundleConfigMaps, reassemble } from '../../src/diagnostics/config-maps.ts';
import { formatExecutionToken } from '../../src/redaction/execution-token.ts';
import type { RedactionCategory } from '../../src/redaction/placeholders.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../support/upstream.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/agent-machine.js', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'am-diag-'));
const auditLog = path.join(dir, 'audit.jsonl');
const id = suffix();
const PROFILE = `diag-personal-${id}`;
const MiB = 1024 * 1024;
let ns = '';
let controller: ControllerProcess;

const rnd = (n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') => Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');

// (A) Values kept in Secrets and referenced by the executions: known to the redactor.
const SECRET_VALUES = {
  API_TOKEN: `planted-token-${rnd(24)}`,
  DB_PASSWORD: `Pl@nted pass/w0rd+${rnd(8)}=&?x`,
  GITHUB_TOKEN: `ghp_${rnd(36)}`,
};
// (B) Credentials in known formats that no Secret holds: found by format alone.
const FORMAT_TOKENS: Array<[RedactionCategory, string]> = [
  ['githubToken', `ghp_${rnd(36)}`],
  ['githubToken', `github_pat_11${rnd(20)}_${rnd(59)}`],
  ['gitlabToken', `glpat-${rnd(20)}`],
  ['slackToken', `xoxb-${rnd(12, '0123456789')}-${rnd(12, '0123456789')}-${rnd(24)}`],
  ['openaiKey', `sk-${rnd(46)}1a`],
  ['openaiKey', `sk-proj-${rnd(60)}1a`],
  ['anthropicKey', `sk-ant-api03-${rnd(90)}`],
  ['huggingfaceToken', `hf_${rnd(34)}`],
  ['npmToken', `npm_${rnd(36)}`],
  ['awsAccessKey', `AKIA${rnd(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`],
  ['executionToken', formatExecutionToken(randomBytes(32))],
  ['jwt', `eyJhbGciOiJIUzI1NiJ9.eyJ${rnd(40)}.${rnd(43)}`],
];
const AWS_SECRET = rnd(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+');
const AZURE_KEY = `${rnd(86)}==`;
const BEARER = rnd(40);
const HEADER_TOKEN = rnd(40);
const URL_PASSWORD = rnd(16);
const LITERAL_API_KEY = `literal-key-${rnd(20)}`;
const ENV_PASSWORD = `envpass-${rnd(20)}`;
const PEM_BODY = [rnd(64, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'), rnd(64, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')];
const GCP_KEY_BODY = rnd(64, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const PROMPT = `Summarize the incident, my access code is ${rnd(16)}`;
const MARKER = `hello from diagnostics ${id}`;

/** Everything that must not appear in a bundle (long enough to search for safely). */
const PLANTED = [
  ...Object.values(SECRET_VALUES),
  ...FORMAT_TOKENS.map(([, t]) => t),
  AWS_SECRET, AZURE_KEY, BEARER, HEADER_TOKEN, URL_PASSWORD, LITERAL_API_KEY, ENV_PASSWORD, ...PEM_BODY, GCP_KEY_BODY, PROMPT,
];

const b64 = (s: string) => Buffer.from(s).toString('base64');
const heredoc = (lines: string[]) => `cat <<'PLANTED_EOF'\n${lines.join('\n')}\nPLANTED_EOF`;

// `sleep 1` first: a container that exits before the runtime reports it started gets no log
// tail recorded (a race in the container reconciler's create path, see the report).
function execution(name: string, body: string, env: Array<Record<string, unknown>> = []) {
  return testExecution(name, ns, PROFILE, `sleep 1\n${body}`, { budget: { wallClockSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 60 } }, { env });
}

const EXECUTIONS = {
  // (A) values through env, printed in every encoding; a literal API_KEY; prompt JSON.
  secrets: () =>
    execution(
      'diag-secrets',
      [
        `echo "${MARKER}"`,
        'echo "plain: $API_TOKEN $DB_PASSWORD $GITHUB_TOKEN"',
        'printf "%s" "$API_TOKEN" | base64',
        'printf "%s" "$DB_PASSWORD" | base64',
        'printf "token=%s\\n" "$API_TOKEN" | base64',
        'printf "%s" "$DB_PASSWORD" | od -An -tx1 | tr -d " \\n"; echo',
        'echo "API_KEY=$API_KEY"',
        heredoc([
          `url-encoded: ${encodeURIComponent(SECRET_VALUES.DB_PASSWORD)} ${encodeURIComponent(SECRET_VALUES.API_TOKEN)}`,
          `url-encoded lower: ${encodeURIComponent(SECRET_VALUES.DB_PASSWORD).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`,
          `form-encoded: ${new URLSearchParams({ p: SECRET_VALUES.DB_PASSWORD }).toString()}`,
          `json-escaped: {"pw":${JSON.stringify(SECRET_VALUES.DB_PASSWORD)}}`,
          `base64url: ${Buffer.from(SECRET_VALUES.GITHUB_TOKEN).toString('base64url')}`,
          JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'system', content: 'You are a helpful SRE' }, { role: 'user', content: `${PROMPT} and token ${SECRET_VALUES.API_TOKEN}` }], max_tokens: 100 }),
          `response {"choices":[{"index":0,"message":{"role":"assistant","content":"Sure: ${PROMPT}"}}],"usage":{"prompt_tokens":12}}`,
        ]),
      ].join('\n'),
      [
        { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'planted-creds', key: 'api-token' } } },
        { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'planted-creds', key: 'db-password' } } },
        { name: 'GITHUB_TOKEN', valueFrom: { secretKeyRef: { name: 'planted-gh', key: 'token' } } },
        { name: 'API_KEY', value: LITERAL_API_KEY },
        { name: 'GREETING', value: 'hello' },
      ],
    ),
  // (B) credential formats, one per line, in the places they show up in real logs.
  formats: () =>
    execution(
      'diag-formats',
      heredoc([
        MARKER,
        ...FORMAT_TOKENS.map(([category, token], i) => (i % 2 ? `found ${category}: ${token}` : `{"level":"debug","msg":"using key","value":"x ${token} y"}`)),
        `url: ${encodeURIComponent(FORMAT_TOKENS[2]![1])}`,
      ]),
    ),
  // Headers, URLs, cloud keys, PEM, env-style passwords.
  cloud: () =>
    execution(
      'diag-cloud',
      heredoc([
        MARKER,
        `curl -H "Authorization: Bearer ${HEADER_TOKEN}" https://api.example.com/v1`,
        `retrying with bearer ${BEARER}`,
        `connecting to postgres://app:${URL_PASSWORD}@db.internal:5432/app`,
        `aws_secret_access_key = ${AWS_SECRET}`,
        `AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${AZURE_KEY};EndpointSuffix=core.windows.net`,
        `export DB_PASSWORD=${ENV_PASSWORD}`,
        JSON.stringify({ type: 'service_account', project_id: 'p', private_key: `-----BEGIN PRIVATE KEY-----\n${GCP_KEY_BODY}\n-----END PRIVATE KEY-----\n`, client_email: 'sa@p.iam.gserviceaccount.com' }),
        '-----BEGIN RSA PRIVATE KEY-----',
        ...PEM_BODY,
        '-----END RSA PRIVATE KEY-----',
      ]),
    ),
};

/** What each category must count at least (each item appears in a log tail, most also in a spec). */
const EXPECTED_AT_LEAST: Partial<Record<RedactionCategory, number>> = {
  secretValue: 6,
  prompt: 3,
  sensitiveKey: 2,
  githubToken: 2,
  gitlabToken: 1,
  slackToken: 1,
  openaiKey: 2,
  anthropicKey: 1,
  huggingfaceToken: 1,
  npmToken: 1,
  awsAccessKey: 1,
  executionToken: 1,
  jwt: 1,
  authorizationHeader: 1,
  bearerToken: 1,
  urlPassword: 1,
  awsSecretKey: 1,
  azureKey: 1,
  gcpPrivateKey: 1,
  privateKey: 1,
};

before(async () => {
  await installApi();
  ns = await createNamespace('diagnostics');
  await grantEditorRole('alice');
  await grantEditorRole('bob');
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `diag-delegator-${id}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agent-machine-delegator' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
      // The CLI gathers with the caller's credentials: it must read the Secrets to scrub them.
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'read-secrets', namespace: ns }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'alice-reads-secrets', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-secrets' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'planted-creds', namespace: ns },
        stringData: { 'api-token': SECRET_VALUES.API_TOKEN, 'db-password': SECRET_VALUES.DB_PASSWORD },
      },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'planted-gh', namespace: ns }, stringData: { token: SECRET_VALUES.GITHUB_TOKEN } },
    ],
  };
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(rbac) });
  const profile = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name: PROFILE },
    spec: {
      profileType: 'personal',
      authority: authority('alice', ['agent_machine.profile.create']),
      budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 120, agentConcurrency: 4 },
      network: { mode: 'none' },
      images: { allowedRegistries: ['localhost'] },
    },
  };
  assert.equal((await createAs('alice', profile)).code, 0);
  controller = await startControllerProcess({ auditLogPath: auditLog });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
  for (const make of Object.values(EXECUTIONS)) {
    const r = await createAs('alice', make());
    assert.equal(r.code, 0, r.stderr);
  }
  for (const name of executionNames()) {
    await eventually(`${name} Succeeded`, async () => {
      const s = (await getObject<any>('LocalAgentExecution', name, ns))?.status;
      if (s?.phase && s.phase !== 'Succeeded' && ['Failed', 'Denied', 'Cancelled'].includes(s.phase)) throw new Error(`${name} ended ${s.phase}: ${JSON.stringify(s.conditions)}`);
      return s?.phase === 'Succeeded';
    }, 60_000);
    const rec = await getObject<any>('ContainerExecutionRecord', `${name}-agent`, ns);
    assert.match(rec.status.logTail, new RegExp(MARKER), `${name} log tail: ${rec.status.logTail}`);
    assert.ok(rec.status.logTail.length < 4000, `${name} log tail fits the 4096 characters kept`);
  }
});

after(async () => {
  await controller?.kill('SIGTERM');
  // Later files rely on the shared user bob having no rights: take back what this file gave.
  await revokeEditorRole('bob');
});

function executionNames(): string[] {
  return Object.values(EXECUTIONS).map((make) => make().metadata.name);
}

function untar(tarGz: Buffer): Map<string, string> {
  return new Map(readTar(gunzipSync(tarGz)).map((e) => [e.path, e.data.toString('utf8')]));
}

/**
 * Where a planted value still shows: as is, JSON-escaped, or inside the decoding of any base64,
 * base64url, hex or percent-encoded substring (at every base64 alignment).
 */
function findPlanted(files: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [file, content] of files) {
    const views: string[] = [content];
    for (const m of content.matchAll(/[A-Za-z0-9+/_-]{8,}={0,2}/g)) {
      for (let skip = 0; skip < 4; skip++) {
        const run = m[0].slice(skip);
        views.push(Buffer.from(run, 'base64').toString('latin1'), Buffer.from(run, 'base64url').toString('latin1'));
      }
    }
    for (const m of content.matchAll(/(?:[0-9a-fA-F]{2}){8,}/g)) views.push(Buffer.from(m[0], 'hex').toString('latin1'), Buffer.from(m[0].slice(1), 'hex').toString('latin1'));
    for (const m of content.matchAll(/[^\s"'<>]*%[0-9A-Fa-f]{2}[^\s"'<>]*/g)) {
      for (const candidate of [m[0], m[0].replace(/\+/g, ' ')]) {
        try {
          views.push(decodeURIComponent(candidate));
        } catch {
          views.push(candidate.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
        }
      }
    }
    for (const value of PLANTED) {
      const forms = [value, JSON.stringify(value).slice(1, -1), Buffer.from(value).toString('latin1')];
      if (views.some((v) => forms.some((f) => v.includes(f)))) found.push(`${file}: ${value.slice(0, 6)}… (${value.length} chars)`);
    }
  }
  return found;
}

function assertReportCovers(report: Record<string, number>) {
  for (const [category, n] of Object.entries(EXPECTED_AT_LEAST)) {
    assert.ok((report[category] ?? 0) >= n!, `${category}: counted ${report[category] ?? 0}, planted at least ${n}; report ${JSON.stringify(report)}`);
  }
}

/** The bundle is worth attaching: statuses, events, log tails and audit of every execution. */
function assertUseful(files: Map<string, string>, opts: { audit: boolean }) {
  const manifest = JSON.parse(files.get('manifest.json')!);
  for (const flag of ['credentialsIncluded', 'tokensIncluded', 'localSecretsIncluded', 'sensitivePromptsIncluded']) assert.equal(manifest[flag], false, flag);
  assert.equal(manifest.scope.namespace, ns);
  const events = JSON.parse(files.get('events.json')!) as any[];
  for (const name of executionNames()) {
    const ex = parse(files.get(`objects/LocalAgentExecution/${name}.yaml`)!) as any;
    assert.equal(ex.status.phase, 'Succeeded');
    assert.ok(ex.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    assert.equal(ex.metadata.managedFields, undefined);
    const rec = parse(files.get(`objects/ContainerExecutionRecord/${name}-agent.yaml`)!) as any;
    assert.equal(rec.status.exitCode, 0);
    assert.match(files.get(`logs/${name}-agent.txt`)!, new RegExp(MARKER));
    assert.ok(events.some((e) => e.regarding?.name === name), `events about ${name}`);
    assert.ok(events.some((e) => e.regarding?.name === `${name}-agent`), `events about ${name}-agent`);
    if (opts.audit) {
      const audit = files.get('audit.jsonl')!.trim().split('\n').map((l) => JSON.parse(l));
      assert.ok(audit.some((a) => a.object.name === name && a.operationType === 'agent_machine.execution.start'), `audit records of ${name}`);
    }
    // The upstream records of what the controller really did (issue 17): prophet-core per object.
    const prophet = JSON.parse(files.get(`records/prophet-core/LocalAgentExecution/${name}.json`)!);
    assert.equal(prophet.workspaceOperation.status, 'completed');
    assert.ok(prophet.workspaceOperation.policy_gate_ids.length > 0, 'allowed decisions are gate records too');
    const dir = referenceDir();
    if (dir) {
      assert.deepEqual(validateReference(dir, 'SocioProphet__prophet-core-contracts/schemas/workspace-operation.schema.json', prophet.workspaceOperation), []);
      for (const e of prophet.operationEvents) assert.deepEqual(validateReference(dir, 'SocioProphet__prophet-core-contracts/schemas/operation-task-event.schema.json', e, 'OperationEvent'), []);
    } else console.warn(REFERENCE_MISSING);
  }
  if (opts.audit) {
    const audit = files.get('audit.jsonl')!.trim().split('\n').map((l) => JSON.parse(l));
    const log = files.get('records/local-operation-log.jsonl')!.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(log.map((e) => e.integrity.entryHash), audit.map((a) => `sha256:${a.hash}`), 'one LocalOperationLog entry per audit line, entryHash the chain hash');
    const dir = referenceDir();
    if (dir) for (const e of log) assert.deepEqual(validateReference(dir, 'SourceOS-Linux__sourceos-spec/schemas/LocalOperationLog.json', e), []);
  }
  const secretsEx = parse(files.get('objects/LocalAgentExecution/diag-secrets.yaml')!) as any;
  const env = secretsEx.spec.containers[0].env;
  assert.deepEqual(env.find((e: any) => e.name === 'API_KEY'), { name: 'API_KEY', value: '[REDACTED:sensitiveKey]' });
  assert.deepEqual(env.find((e: any) => e.name === 'GREETING'), { name: 'GREETING', value: 'hello' });
  assert.deepEqual(env.find((e: any) => e.name === 'API_TOKEN').valueFrom, { secretKeyRef: { name: 'planted-creds', key: 'api-token' } });
  assert.match(files.get('logs/diag-secrets-agent.txt')!, /"content":"sha256:[0-9a-f]{64} len=\d+"/);
  assert.match(files.get('logs/diag-cloud-agent.txt')!, /Authorization: Bearer \[REDACTED:authorizationHeader\]/);
  assert.match(files.get('logs/diag-cloud-agent.txt')!, /postgres:\/\/app:\[REDACTED:urlPassword\]@db\.internal:5432\/app/);
}

test('CLI export as the user: nothing planted survives, the report counts it, the bundle is useful', async () => {
  const out = path.join(dir, 'cli-bundle.tar.gz');
  const { stderr } = await run(
    process.execPath,
    [BIN, 'diagnostics', 'export', '-n', ns, '--execution', ...executionNames(), '-o', out, '--kubeconfig', kubeconfigPath('alice'), '--audit-log', auditLog, '--metrics-url', controller.metricsUrl],
    { maxBuffer: 16 * MiB },
  );
  const report = Object.fromEntries([...(/redaction: (.*)/.exec(stderr)?.[1] ?? '').matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  assertReportCovers(report);
  const tarGz = readFileSync(out);
  assert.match(stderr, new RegExp(`sha256:${createHash('sha256').update(tarGz).digest('hex')}`));
  const files = untar(tarGz);
  // The finder itself finds what it should: encoded, embedded, escaped.
  for (const planted of [`x${b64(`k=${PLANTED[0]}`)}y`, encodeURIComponent(`${PLANTED[1]}`), Buffer.from(`..${PLANTED[3]}`).toString('hex'), JSON.stringify(PLANTED[4])]) {
    assert.equal(findPlanted(new Map([['probe', planted]])).length, 1, planted);
  }
  assert.deepEqual(findPlanted(files), []);
  assertUseful(files, { audit: true });
  assert.deepEqual(JSON.parse(files.get('manifest.json')!).redactionReport, report);
  assert.match(files.get('metrics.txt')!, /agent_machine_reconcile_total/);
  // System tar reads it too.
  const listed = await run('tar', ['-tzf', out]);
  assert.match(listed.stdout, /^manifest\.json$/m);
});

test('in-cluster bundle: Ready with digest, size, ConfigMaps, report and the four flags false; nothing planted survives', async () => {
  const bundle = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineDiagnosticBundle',
    metadata: { name: 'incident', namespace: ns },
    spec: { scope: { executions: executionNames() }, authority: authority('alice', ['agent_machine.diagnostics.export_redacted']) },
  };
  assert.equal((await createAs('alice', bundle)).code, 0);
  const status = await eventually('bundle Ready', async () => {
    const s = (await getObject<any>('AgentMachineDiagnosticBundle', 'incident', ns))?.status;
    if (s?.phase === 'Failed' || s?.phase === 'Denied') throw new Error(`bundle ${s.phase}: ${JSON.stringify(s.conditions)}`);
    return s?.phase === 'Ready' ? s : undefined;
  }, 30_000);
  assert.match(status.digest, /^sha256:[0-9a-f]{64}$/);
  for (const flag of ['credentialsIncluded', 'tokensIncluded', 'localSecretsIncluded', 'sensitivePromptsIncluded']) assert.equal(status[flag], false, flag);
  assert.deepEqual(status.configMaps, ['incident-part-0']);
  assert.equal(status.operation.operationType, 'agent_machine.diagnostics.export_redacted');
  assert.equal(status.operation.state, 'completed');
  assert.equal(status.conditions.find((c: any) => c.type === 'Redacted').status, 'True');
  assertReportCovers(status.redactionReport);

  const cms = await listBundleConfigMaps(admin, ns, 'incident');
  assert.equal(cms[0]!.metadata!.ownerReferences![0]!.name, 'incident');
  const r = reassemble(cms, status.digest);
  assert.ok(r.ok, !r.ok ? r.problem : '');
  assert.equal(r.tarGz.length, status.sizeBytes);
  const files = untar(r.tarGz);
  assert.deepEqual(findPlanted(files), []);
  assertUseful(files, { audit: true });
  const controllerInfo = JSON.parse(files.get('controller.json')!);
  assert.equal(controllerInfo.config.auditLogPath, auditLog);
  assert.equal(controllerInfo.kubeConfig, undefined);
  assert.ok(JSON.parse(files.get('runtime.json')!).runtimes.docker.reachable);
  // The export itself is audited and evented.
  const uid = (await getObject<any>('AgentMachineDiagnosticBundle', 'incident', ns)).metadata.uid;
  const entries = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const exports = entries.filter((e) => e.object.uid === uid && e.operationType === 'agent_machine.diagnostics.export_redacted' && e.outcome === 'completed');
  assert.equal(exports.length, 1, 'exported once: a bundle is a snapshot');

  // `diagnostics fetch` gives the same bytes, digest checked. It reads ConfigMaps, which the
  // delegator role does not grant: an admin (or anyone who may read ConfigMaps) fetches.
  const out = path.join(dir, 'fetched.tar.gz');
  await run(process.execPath, [BIN, 'diagnostics', 'fetch', 'incident', '-n', ns, '-o', out, '--kubeconfig', kubeconfigPath()]);
  assert.deepEqual(readFileSync(out), r.tarGz);
  assert.equal((await getObject<any>('AgentMachineDiagnosticBundle', 'incident', ns)).status.digest, status.digest);

  // Deleting the bundle takes its ConfigMaps along (no garbage collector needed).
  await kubectl(['delete', 'agentmachinediagnosticbundle', 'incident', '-n', ns, '--wait=true', '--timeout=20s']);
  assert.deepEqual(await listBundleConfigMaps(admin, ns, 'incident'), []);
});

test('a delegator without export (or a delegation without the scope) gets Denied and no bundle', async () => {
  const make = (name: string, delegator: string, scopes: string[]) => ({
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineDiagnosticBundle',
    metadata: { name, namespace: ns },
    spec: { authority: authority(delegator, scopes) },
  });
  assert.equal((await createAs('bob', make('bob-bundle', 'bob', ['agent_machine.diagnostics.export_redacted']))).code, 0);
  assert.equal((await createAs('alice', make('no-scope', 'alice', ['agent_machine.execution.start']))).code, 0);
  const bob = await eventually('bob Denied', async () => {
    const s = (await getObject<any>('AgentMachineDiagnosticBundle', 'bob-bundle', ns))?.status;
    return s?.phase === 'Denied' ? s : undefined;
  });
  assert.equal(bob.conditions.find((c: any) => c.type === 'Ready').reason, 'PermissionDenied');
  assert.match(bob.conditions.find((c: any) => c.type === 'Ready').message, /may not export agentmachinediagnosticbundles/);
  const noScope = await eventually('no-scope Denied', async () => {
    const s = (await getObject<any>('AgentMachineDiagnosticBundle', 'no-scope', ns))?.status;
    return s?.phase === 'Denied' ? s : undefined;
  });
  assert.equal(noScope.conditions.find((c: any) => c.type === 'Ready').reason, 'ScopeNotCovered');
  for (const s of [bob, noScope]) assert.equal(s.digest, undefined);
  assert.deepEqual(await listBundleConfigMaps(admin, ns, 'bob-bundle'), []);
  assert.deepEqual(await listBundleConfigMaps(admin, ns, 'no-scope'), []);

  // The CLI asks the same question of the caller.
  const denied = await run(process.execPath, [BIN, 'diagnostics', 'export', '-n', ns, '-o', path.join(dir, 'bob.tar.gz'), '--kubeconfig', kubeconfigPath('bob')]).catch((e: { code: number; stderr: string }) => e);
  assert.equal((denied as { code: number }).code, 1);
  assert.match((denied as { stderr: string }).stderr, /may not export agentmachinediagnosticbundles/);
  assert.equal(existsSync(path.join(dir, 'bob.tar.gz')), false);
});

test('the CLI fails closed when it cannot read a referenced Secret: nothing is written', async () => {
  // bob may now export, but not read Secrets: the values cannot be scrubbed, so no bundle.
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'export-only', namespace: ns }, rules: [{ apiGroups: ['agentmachine.sourceos.dev'], resources: ['agentmachinediagnosticbundles'], verbs: ['export'] }, { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['list'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bob-export-only', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'export-only' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }] },
    ],
  };
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(rbac) });
  const out = path.join(dir, 'bob2.tar.gz');
  const refused = await eventually('RBAC in effect', async () => {
    const r = await run(process.execPath, [BIN, 'diagnostics', 'export', '-n', ns, '--execution', 'diag-secrets', '-o', out, '--kubeconfig', kubeconfigPath('bob')]).catch((e: { code: number; stderr: string }) => e);
    return /cannot read Secret/.test((r as { stderr: string }).stderr) ? r : undefined;
  });
  assert.equal((refused as { code: number }).code, 1);
  assert.match((refused as { stderr: string }).stderr, /ExportRefused: cannot read Secret planted-(creds|gh)/);
  assert.equal(existsSync(out), false);
});

test('a time window leaves out what happened outside it', async () => {
  const out = path.join(dir, 'window.tar.gz');
  const until = new Date(Date.now() - 3_600_000).toISOString();
  await run(process.execPath, [BIN, 'diagnostics', 'export', '-n', ns, '--until', until, '-o', out, '--kubeconfig', kubeconfigPath('alice')]);
  const files = untar(readFileSync(out));
  assert.equal([...files.keys()].filter((f) => f.startsWith('objects/LocalAgentExecution/')).length, 0);
  assert.deepEqual(JSON.parse(files.get('events.json')!), []);
});
