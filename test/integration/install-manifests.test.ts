// The in-cluster install (manifests/): it applies cleanly, its Pod meets the namespace's Pod
// Security level, its flags exist, and its RBAC is exactly what the controller uses.
//
// The RBAC check runs the real controller CLI authenticated as the ServiceAccount
// agent-machine-controller (a TokenRequest token, bound only by the manifests' ClusterRole and
// Role), drives a representative flow through it, and then reads the API server's audit log
// (test/run-integration.ts turns it on for ServiceAccount requests): no request of the
// ServiceAccount may have been refused (403), every request must be covered by a rule of ours,
// and every rule must have been used by some request, or be on GRANTED_NOT_EXERCISED below with
// the reason.
import { LEADER_LABEL } from '../../src/controller/leader-pod-label.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { loadAllYaml } from '../support/yaml.ts';
import { PatchStrategy } from '@kubernetes/client-node';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { adminKubeConfig, apiserverAuditLogPath, kubeconfigPath, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createAs, createNamespace, eventually, getObject, suffix } from '../support/objects.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../support/openai-test-server.ts';
import { PODS } from '../../src/operator/resource.ts';
import { CONTAINER_NAME } from '../../src/runtimes/kubernetes/pod.ts';
import { RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';
import { DEFAULT_GATEWAY } from '../../src/runtimes/kubernetes/network-policy.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const BASE = path.join(root, 'manifests');
const WORKSTATION = path.join(root, 'manifests/overlays/workstation');
const SYSTEM_NS = 'agent-machine-system';
const SA = 'agent-machine-controller';
const SA_USER = `system:serviceaccount:${SYSTEM_NS}:${SA}`;
const dir = mkdtempSync(path.join(tmpdir(), 'am-install-'));
const id = suffix();
const PROFILE = `install-local-${id}`;
const TOOL = 'mcp.install-test';
const MiB = 1024 * 1024;

// Granted, but no request of the flow below uses them; each with why it is granted anyway.
// Keys are "<verb> <group>/<resource>" as in the printed table (core group: "core").
const GRANTED_NOT_EXERCISED: Record<string, string> = {
  'create core/configmaps': 'bundle parts are written by server-side apply: a PATCH request, which the API server also authorizes as create when it creates the object',
  'update agentmachine.sourceos.dev/localagentexecutions/finalizers':
    'never requested: clusters with the OwnerReferencesPermissionEnforcement admission plugin check it for the blockOwnerDeletion of a record\'s owner reference',
  'update core/secrets': 'kubernetes runtime: an env Secret of that name exists with other data (adoption after a crash between steps)',
  'get networking.k8s.io/networkpolicies': 'kubernetes runtime: a NetworkPolicy of that name exists already (adoption after a crash between steps)',
  'update networking.k8s.io/networkpolicies': 'kubernetes runtime: an adopted NetworkPolicy differs from the desired one',
  'get core/pods/exec': 'kubernetes runtime: reading a finished Pod\'s outputs from its collector; this test runs no node (real-node.test.ts exercises it)',
  'create core/pods/exec': 'kubernetes runtime: the create check of an exec WebSocket upgrade (Kubernetes 1.35+); this test runs no node',
};

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };
type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number; message?: string };
}

async function render(dirPath: string): Promise<Doc[]> {
  const { stdout } = await kubectl(['kustomize', dirPath]);
  return (loadAllYaml(stdout) as Doc[]).filter((d) => d != null);
}

const keyOf = (d: Doc) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;
const find = (docs: Doc[], kind: string, name: string) => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(d, `${kind} ${name} is rendered`);
  return d;
};

/** A Pod with the Deployment's template, to let Pod Security admission judge it (it only warns on Deployments). */
function podFrom(deployment: Doc, name: string): Doc {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: SYSTEM_NS, labels: deployment.spec.template.metadata.labels }, spec: deployment.spec.template.spec };
}

before(async () => {
  await installApi();
});

test('manifests/ and the workstation overlay apply (server-side dry run), render the same objects, and use only existing flags', async () => {
  // Warnings are errors: among them, Pod Security judges the Deployment's template against the
  // namespace's `restricted` level.
  const r = await kubectl(['apply', '-k', BASE, '--server-side', '--force-conflicts', '--dry-run=server', '--warnings-as-errors'], { check: false });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment\.apps\/agent-machine-controller serverside-applied \(server dry run\)/);
  // The overlay relabels the namespace privileged, which a dry run does not store: its Deployment
  // is judged against the installed `restricted` label and warned about, and nothing else.
  const w = await kubectl(['apply', '-k', WORKSTATION, '--server-side', '--force-conflicts', '--dry-run=server'], { check: false });
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stdout, /deployment\.apps\/agent-machine-controller serverside-applied \(server dry run\)/);
  const otherWarnings = w.stderr.split('\n').filter((l) => l.trim() !== '' && !/^Warning: would violate PodSecurity "restricted:latest": host namespaces \(hostNetwork=true\), hostPort .*restricted volume types \(volume "podman-socket"/.test(l));
  assert.deepEqual(otherWarnings, []);
  const base = await render(BASE);
  const workstation = await render(WORKSTATION);
  // The overlay lists the parts of manifests/ one by one (kustomize refuses the parent folder):
  // it must not fall behind when one is added.
  const overlayKeys = new Set(workstation.map(keyOf));
  assert.deepEqual(base.map(keyOf).filter((k) => !overlayKeys.has(k)), [], 'objects manifests/ has and the workstation overlay lacks');

  // What `agent-machine dev` applies against a cluster: everything but the controller.
  const dev = await kubectl(['apply', '-k', BASE, '-l', 'app.kubernetes.io/component!=controller', '--server-side', '--force-conflicts', '--dry-run=server', '-o', 'name']);
  const devApplied = dev.stdout.trim().split('\n');
  assert.ok(devApplied.includes('namespace/agent-machine-system') && devApplied.includes('validatingadmissionpolicy.admissionregistration.k8s.io/agent-machine-delegator-is-requester'), dev.stdout);
  assert.ok(!devApplied.some((n) => /agent-machine-controller/.test(n)), `dev applies no controller object: ${dev.stdout}`);

  // The admission policy must let the controller's ServiceAccount act as a broker.
  const params = find(base, 'ConfigMap', 'agent-machine-admission');
  assert.ok(String(params.data.brokerUsers).split(',').map((s) => s.trim()).includes(SA_USER), params.data.brokerUsers);

  // Every flag the Deployments pass is one the controller command has.
  const { stdout: help } = await run(process.execPath, [path.join(root, 'bin/agent-machine.js'), 'controller', '--help']);
  const known = new Set(help.match(/--[a-z][a-z-]*/g));
  for (const docs of [base, workstation]) {
    const args: string[] = find(docs, 'Deployment', 'agent-machine-controller').spec.template.spec.containers[0].args;
    assert.equal(args[0], 'controller');
    for (const a of args.slice(1)) assert.ok(known.has(a.split('=')[0]!), `unknown flag ${a}`);
  }

  // The wiring: the Service selects the controller's Pods; containers are told the Service's
  // gateway port; and a gateway-only Pod's NetworkPolicy (kubernetes runtime) lets it reach them.
  const deployment = find(base, 'Deployment', 'agent-machine-controller');
  const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;
  const service = find(base, 'Service', 'agent-machine-controller');
  for (const [k, v] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(podLabels[k], v, `Service selector ${k}`);
  assert.deepEqual(deployment.spec.selector.matchLabels, service.spec.selector);
  assert.equal(deployment.metadata.namespace, DEFAULT_GATEWAY.namespace);
  for (const [k, v] of Object.entries(DEFAULT_GATEWAY.podSelector)) assert.equal(podLabels[k], v, `gateway egress peer label ${k}`);
  const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  const args: string[] = deployment.spec.template.spec.containers[0].args;
  const advertised = new URL(flag(args, '--gateway-advertise-url')!);
  // The gateway Service selects the controller Pods and, of those, the one the leader labelled.
  const gatewayService = find(base, 'Service', 'agent-machine-gateway');
  assert.deepEqual(gatewayService.spec.selector, { ...service.spec.selector, [LEADER_LABEL]: 'true' });
  const env: Array<{ name: string; valueFrom?: any }> = deployment.spec.template.spec.containers[0].env;
  assert.equal(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name', 'the leader finds its Pod through the downward API');
  assert.equal(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  const gatewayPort = gatewayService.spec.ports.find((p: any) => p.name === 'gateway');
  assert.equal(advertised.hostname, `${gatewayService.metadata.name}.${gatewayService.metadata.namespace}.svc`);
  assert.equal(Number(advertised.port), gatewayPort.port);
  assert.equal(flag(args, '--gateway-bind-address'), `:${deployment.spec.template.spec.containers[0].ports.find((p: any) => p.name === gatewayPort.targetPort).containerPort}`);

  // Pod Security: the base Pod is admitted by the namespace's `restricted` level; the
  // workstation's (hostPath socket, hostNetwork) is not, which is why that overlay relabels it.
  const basePod = await kubectl(['create', '--dry-run=server', '-f', '-'], { stdin: JSON.stringify(podFrom(find(base, 'Deployment', 'agent-machine-controller'), `psa-base-${id}`)), check: false });
  assert.equal(basePod.code, 0, basePod.stderr);
  const wsPod = await kubectl(['create', '--dry-run=server', '-f', '-'], { stdin: JSON.stringify(podFrom(find(workstation, 'Deployment', 'agent-machine-controller'), `psa-ws-${id}`)), check: false });
  assert.notEqual(wsPod.code, 0);
  assert.match(wsPod.stderr, /violates PodSecurity "restricted:latest".*(hostNetwork|hostPath)/);
  assert.equal(find(workstation, 'Namespace', SYSTEM_NS).metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
});

// ---- RBAC against the requests the controller makes --------------------------------------

let ns = '';
let upstream: OpenAiTestServer | undefined;
let controller: ControllerProcess | undefined;

after(async () => {
  await controller?.kill('SIGTERM');
  await upstream?.close();
});

async function serviceAccountKubeconfig(): Promise<string> {
  const { stdout } = await kubectl(['create', 'token', SA, '-n', SYSTEM_NS, '--duration=1h']);
  const cluster = adminKubeConfig().getCurrentCluster()!;
  const file = path.join(dir, 'controller.kubeconfig');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: SA, user: { token: stdout.trim() } }],
    contexts: [{ name: SA, context: { cluster: 'test', user: SA } }],
    'current-context': SA,
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

function agentObject(kind: string, name: string, spec: object, namespace?: string) {
  return { apiVersion: 'agentmachine.sourceos.dev/v1alpha1', kind, metadata: { name, ...(namespace ? { namespace } : {}) }, spec };
}

const phaseOf = async (kind: Parameters<typeof getObject>[0], name: string, namespace?: string): Promise<string | undefined> => (await getObject<any>(kind, name, namespace))?.status?.phase;

async function waitPhase(kind: Parameters<typeof getObject>[0], name: string, phase: string, namespace?: string, timeoutMs = 30_000) {
  let last: any;
  try {
    return await eventually(`${kind} ${name} ${phase}`, async () => {
      const o = (last = await getObject<any>(kind, name, namespace));
      const p = o?.status?.phase ?? o?.status?.state;
      if (p === phase) return o;
      if (p && ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(p)) throw new Error(`${kind} ${name} ended ${p}`);
      return undefined;
    }, timeoutMs);
  } catch (err) {
    // Why it did not get there: its conditions and the controller's last warnings (where a 403
    // shows up long before the audit log is read).
    const logs = controller?.logs
      .filter((l) => ['warn', 'error', 'fatal'].includes(String(l.level)) || Number(l.level) >= 40)
      .slice(-5)
      .map((l) => `${String(l.msg)}: ${String(l.error ?? '')}`)
      .join('\n');
    throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(last?.status?.conditions ?? last?.status)}\ncontroller warnings:\n${logs}`);
  }
}

function waitGone(kind: Parameters<typeof getObject>[0], name: string, namespace?: string) {
  return eventually(`${kind} ${name} deleted`, async () => (await getObject(kind, name, namespace)) === undefined);
}

/** The audit log from offset on, once the apiserver has stopped appending to it. */
async function auditEventsFrom(file: string, offset: number): Promise<AuditEvent[]> {
  let size = -1;
  await eventually('the audit log to settle', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const now = statSync(file).size;
    const settled = now === size;
    size = now;
    return settled;
  }, 10_000, 0);
  const text = readFileSync(file).subarray(offset).toString('utf8');
  const byId = new Map<string, AuditEvent>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const e = JSON.parse(line) as AuditEvent;
    // A watch has ResponseStarted and, once closed, ResponseComplete: one request.
    if (e.user?.username === SA_USER && (!byId.has(e.auditID) || e.stage === 'ResponseComplete')) byId.set(e.auditID, e);
  }
  return [...byId.values()];
}

interface Grant {
  key: string;
  verb: string;
  group: string;
  resource: string;
  resourceNames?: string[];
  /** Role rules hold in their namespace only. */
  namespace?: string;
  used: number;
}

function grantsOf(docs: Doc[]): Grant[] {
  const grants: Grant[] = [];
  for (const role of docs.filter((d) => (d.kind === 'ClusterRole' && d.metadata.name === SA) || (d.kind === 'Role' && d.metadata.namespace === SYSTEM_NS && /^agent-machine-controller/.test(d.metadata.name)))) {
    for (const rule of role.rules as Rule[]) {
      assert.ok(!rule.nonResourceURLs, 'no non-resource rules');
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs) {
            assert.ok(!verb.includes('*') && !resource.includes('*') && !group.includes('*'), `no wildcards: ${verb} ${group}/${resource}`);
            grants.push({
              key: `${verb} ${group || 'core'}/${resource}`,
              verb,
              group,
              resource,
              ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}),
              ...(role.kind === 'Role' ? { namespace: role.metadata.namespace } : {}),
              used: 0,
            });
          }
        }
      }
    }
  }
  return grants;
}

function covers(g: Grant, e: AuditEvent): boolean {
  const o = e.objectRef;
  if (!o?.resource) return false;
  const resource = o.subresource ? `${o.resource}/${o.subresource}` : o.resource;
  return (
    g.verb === e.verb &&
    g.group === (o.apiGroup ?? '') &&
    g.resource === resource &&
    (g.namespace === undefined || g.namespace === o.namespace) &&
    (g.resourceNames === undefined || (o.name !== undefined && g.resourceNames.includes(o.name)))
  );
}

test('RBAC: the controller as its ServiceAccount runs a representative flow with no 403, and uses every rule it is granted', async () => {
  const auditFile = apiserverAuditLogPath();
  const base = await render(BASE);
  const grants = grantsOf(base);
  assert.ok(grants.length > 20, `rules found: ${grants.length}`);
  for (const k of Object.keys(GRANTED_NOT_EXERCISED)) assert.ok(grants.some((g) => g.key === k), `allowlisted ${k} is not granted any more: drop it from the list`);

  // installApi applied manifests/: the ServiceAccount, ClusterRole, Role and bindings exist.
  await kubectl(['get', 'serviceaccount', SA, '-n', SYSTEM_NS]);
  const kubeconfig = await serviceAccountKubeconfig();
  // A Lease left by an earlier test's controller would only delay the election.
  await kubectl(['delete', 'lease', 'agent-machine-controller', '-n', SYSTEM_NS, '--ignore-not-found']);

  ns = await createNamespace('install');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  const upstreamKey = `sk-upstream-${randomBytes(12).toString('hex')}`;
  upstream = await startOpenAiTestServer({ apiKey: upstreamKey, models: ['test-model'] });
  await kubectl(['create', 'secret', 'generic', 'llm-key', '-n', ns, `--from-literal=apiKey=${upstreamKey}`]);
  await kubectl(['create', 'secret', 'generic', 'agent-env', '-n', ns, '--from-literal=value=from-a-secret']);

  const offset = statSync(auditFile).size;
  controller = await startControllerProcess({
    kubeconfig,
    auditLogPath: path.join(dir, 'audit.jsonl'),
    leaderElect: true,
    // As the Deployment runs it: the audit chain in the API server (its RBAC is checked below too).
    args: ['-n', ns, '--gateway-bind-address', '127.0.0.1:0', '--audit-store', 'cluster'],
  });
  await controller.waitForLog((l) => l.msg === 'became leader', 20_000);

  // A profile, a tool grant, a model provider binding (credential Secret), as alice.
  const budgetCeilings = { modelCalls: 20, tokens: 100_000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 120, agentConcurrency: 4 };
  const created = await createAs(
    'alice',
    agentObject('AgentMachineProfile', PROFILE, { profileType: 'local_model_provider', authority: authority('alice', ['agent_machine.profile.create']), budgetCeilings }),
    agentObject('ToolGrantRecord', 'tool', { profileRef: { name: PROFILE }, tool: TOOL, actions: ['read'], authority: authority('alice', ['agent_machine.tool_grant.apply', `tool:${TOOL}`]) }, ns),
    agentObject('ModelProviderBinding', 'llm', {
      profileRef: { name: PROFILE },
      provider: 'openai-compatible',
      endpoint: upstream.url,
      model: 'test-model',
      credentialsSecretRef: { name: 'llm-key', key: 'apiKey' },
      owner: 'alice',
      authority: authority('alice', ['agent_machine.model_provider.bind']),
    }, ns),
  );
  assert.equal(created.code, 0, created.stderr);
  await waitPhase('AgentMachineProfile', PROFILE, 'Ready');
  await waitPhase('ToolGrantRecord', 'tool', 'Active', ns);
  await waitPhase('ModelProviderBinding', 'llm', 'Ready', ns);

  // An execution on the docker runtime (podman): a gateway token Secret, an env Secret reference,
  // the tool grant; its container record is created by the controller as a broker.
  const execution = (name: string, extra: object) =>
    agentObject('LocalAgentExecution', name, {
      profileRef: { name: PROFILE },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run', 'tool:*']),
      modelProviderRef: { name: 'llm' },
      tools: [TOOL],
      budget: { wallClockSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 30 },
      ...extra,
    }, ns);
  const dockerExec = execution('on-podman', {
    containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', 'echo "env=$FROM_SECRET"; test -n "$OPENAI_API_KEY" && echo token-present'], env: [{ name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'agent-env', key: 'value' } } }] }],
  });
  assert.equal((await createAs('alice', dockerExec)).code, 0);
  await waitPhase('LocalAgentExecution', 'on-podman', 'Succeeded', ns, 45_000);
  const rec = await getObject<any>('ContainerExecutionRecord', 'on-podman-agent', ns);
  assert.match(rec.status.logTail, /token-present/);
  assert.equal(rec.status.runtime, 'docker');

  // The same on the kubernetes runtime: a gated Pod, its NetworkPolicy and env Secret, released.
  // The test plays the scheduler and the kubelet (there are none), so the log is read and fails.
  const podExec = execution('on-pods', { runtime: 'kubernetes', containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', 'echo hi'] }] });
  assert.equal((await createAs('alice', podExec)).code, 0);
  // Until the "kubelet" reports it running, the record is Pending with the Pod's reason.
  let lastSeen = '';
  const podRecord = await eventually('on-pods-agent waiting for its Pod', async () => {
    const r = await getObject<any>('ContainerExecutionRecord', 'on-pods-agent', ns);
    const ready = r?.status?.conditions?.find((c: any) => c.type === 'Ready');
    lastSeen = r ? `${r.status?.phase} ${ready?.reason}: ${ready?.message}` : `no record; execution: ${JSON.stringify((await getObject<any>('LocalAgentExecution', 'on-pods', ns))?.status?.conditions)}`;
    return r?.status?.phase === 'Pending' && ready?.reason === 'PodPending' ? r : undefined;
  }, 30_000).catch((err) => assert.fail(`${(err as Error).message}; last seen: ${lastSeen}`));
  const pod = await eventually('the released Pod', async () => {
    const list = await admin.request<any>({ method: 'GET', path: PODS.apiPath(ns), query: { labelSelector: `${RECORD_UID_LABEL}=${podRecord.metadata.uid}` } });
    const p = list.items[0];
    return p && !p.spec.schedulingGates?.length ? p : undefined;
  });
  await admin.request({ method: 'POST', path: PODS.apiPath(ns, pod.metadata.name, 'binding'), body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.metadata.name }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } } });
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await admin.request({
    method: 'PATCH',
    path: PODS.apiPath(ns, pod.metadata.name, 'status'),
    contentType: PatchStrategy.MergePatch,
    body: { status: { phase: 'Succeeded', containerStatuses: [{ name: CONTAINER_NAME, image: sandboxImage(), imageID: `${sandboxImage()}@sha256:${'b'.repeat(64)}`, ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } } }] } },
  });
  await waitPhase('LocalAgentExecution', 'on-pods', 'Succeeded', ns);
  // A finished record's Pod is removed (with its env Secret and NetworkPolicy).
  await eventually('the Pod removed', async () => (await admin.request<any>({ method: 'GET', path: PODS.apiPath(ns) })).items.length === 0);

  // A diagnostics bundle of the podman execution: ConfigMaps owned by it; deleted with it.
  const bundle = agentObject('AgentMachineDiagnosticBundle', 'bundle', { scope: { executions: ['on-podman'] }, authority: authority('alice', ['agent_machine.diagnostics.export_redacted']) }, ns);
  assert.equal((await createAs('alice', bundle)).code, 0);
  const ready = await waitPhase('AgentMachineDiagnosticBundle', 'bundle', 'Ready', ns);
  assert.ok(ready.status.configMaps.length >= 1);
  assert.ok(ready.status.redactionReport, 'redacted');
  await kubectl(['delete', 'agentmachinediagnosticbundle', 'bundle', '-n', ns, '--wait=false']);
  await waitGone('AgentMachineDiagnosticBundle', 'bundle', ns);
  const parts = await admin.request<any>({ method: 'GET', path: `/api/v1/namespaces/${ns}/configmaps`, query: { labelSelector: 'agentmachine.sourceos.dev/diagnostic-bundle=bundle' } });
  assert.equal(parts.items.length, 0, 'the bundle\'s ConfigMaps went with it');

  // Deleting an execution deletes its records and releases its finalizer; a grant's finalizer too.
  await kubectl(['delete', 'localagentexecution', 'on-podman', 'on-pods', '-n', ns, '--wait=false']);
  await kubectl(['delete', 'toolgrantrecord', 'tool', '-n', ns, '--wait=false']);
  await kubectl(['delete', 'modelproviderbinding', 'llm', '-n', ns, '--wait=false']);
  await waitGone('LocalAgentExecution', 'on-podman', ns);
  await waitGone('LocalAgentExecution', 'on-pods', ns);
  await waitGone('ContainerExecutionRecord', 'on-podman-agent', ns);
  await waitGone('ToolGrantRecord', 'tool', ns);
  await waitGone('ModelProviderBinding', 'llm', ns);
  assert.equal(await phaseOf('AgentMachineProfile', PROFILE), 'Ready');

  // SIGTERM releases the lease (an update) and closes the watches.
  assert.equal(await controller.kill('SIGTERM'), 0);
  controller = undefined;

  // The flow's commands are in the cluster's audit chain, which verifies.
  const verified = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile(process.execPath, [path.join(root, 'bin/agent-machine.js'), 'audit', 'verify', '--cluster', '--namespace', 'agent-machine-system', '--kubeconfig', kubeconfigPath()], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr })),
  );
  assert.equal(verified.code, 0, verified.out);
  const entries = Number(/chain intact, (\d+) entries/.exec(verified.out)?.[1] ?? 0);
  assert.ok(entries >= 3, `the flow's commands are in the chain: ${verified.out}`);

  const events = await auditEventsFrom(auditFile, offset);
  assert.ok(events.length > 50, `audit events of ${SA_USER}: ${events.length}`);
  const refused = events.filter((e) => e.responseStatus?.code === 403);
  assert.deepEqual(refused.map((e) => `${e.verb} ${e.requestURI}: ${e.responseStatus?.message ?? ''}`), [], 'requests of the controller refused by RBAC');

  const uncovered: string[] = [];
  for (const e of events) {
    if (!e.objectRef?.resource) continue; // non-resource URLs (/version) come from the default discovery roles
    const matching = grants.filter((g) => covers(g, e));
    if (matching.length === 0) uncovered.push(`${e.verb} ${e.requestURI}`);
    for (const g of matching) g.used++;
  }
  assert.deepEqual(uncovered, [], 'requests no rule of ours covers (allowed by some default role instead)');

  const rows = grants
    .map((g) => ({ g, label: g.key + (g.resourceNames ? ` [${g.resourceNames.join(',')}]` : '') + (g.namespace ? ` (ns ${g.namespace})` : '') }))
    .sort((a, b) => (a.label < b.label ? -1 : 1));
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log(`\nRBAC rule (verb group/resource) -> requests of ${SA_USER} (${events.length} in all)`);
  for (const { g, label } of rows) console.log(`  ${label.padEnd(width)}  ${String(g.used).padStart(5)}${g.used === 0 && GRANTED_NOT_EXERCISED[g.key] ? '  (allowlisted)' : ''}`);
  const unused = grants.filter((g) => g.used === 0 && !GRANTED_NOT_EXERCISED[g.key]).map((g) => g.key);
  assert.deepEqual(unused, [], 'granted but never used (remove the rule, or add it to GRANTED_NOT_EXERCISED with the reason)');
});
