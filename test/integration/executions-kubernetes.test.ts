// An execution on the kubernetes runtime, end to end through the reconcilers: the execution's
// container record becomes a hardened Pod with a gateway-only NetworkPolicy (profile network none);
// this test plays the scheduler and the kubelet (the test control plane has neither), and the
// execution completes from what the "kubelet" reports.
// The same runtime on a real node (containerd + kubelet + scheduler, real exit codes, OOM kills,
// deadlines and logs): test/integration/real-node.test.ts. The stand-ins stay for the states a
// real node rarely shows on demand (ImagePullBackOff, a node gone Unknown, ...).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PatchStrategy } from '@kubernetes/client-node';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { PODS } from '../../src/operator/resource.ts';
import { NETWORK_POLICIES } from '../../src/runtimes/kubernetes/kubernetes-runtime.ts';
import { CONTAINER_NAME } from '../../src/runtimes/kubernetes/pod.ts';
import { RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../support/openai-test-server.ts';

const id = suffix();
const PROFILE = `k8s-airgapped-${id}`;
const IMAGE = 'registry.example.com/agents/hello:1.0';
let ns = '';
let controller: ControllerProcess;
const MiB = 1024 * 1024;
const GATEWAY_PROFILE = `k8s-gateway-${id}`;
const ADVERTISED = 'http://agent-machine-gateway.agent-machine-system.svc:8081';
const UPSTREAM_KEY = `sk-upstream-${id}-0123456789`;
let upstream: OpenAiTestServer;
let gateway = '';

before(async () => {
  await installApi();
  ns = await createNamespace('exec-k8s');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  const profile = testProfile(PROFILE, {
    profileType: 'airgapped_local_only',
    budgetCeilings: { modelCalls: 0, tokens: 0, connectorCalls: 0, cpuGpuComputeSeconds: 60, localDiskBytes: 32 * MiB, sandboxMemoryBytes: 128 * MiB, wallClockSeconds: 300, agentConcurrency: 2 },
    images: { allowedRegistries: ['registry.example.com'] },
  });
  assert.equal((await createAs('alice', profile)).code, 0);
  assert.equal((await createAs('alice', testProfile(GATEWAY_PROFILE, { profileType: 'local_model_provider', network: { mode: 'gateway-only' }, images: { allowedRegistries: ['registry.example.com'] } }))).code, 0);
  upstream = await startOpenAiTestServer({ apiKey: UPSTREAM_KEY, models: ['test-model'] });
  await kubectl(['create', 'secret', 'generic', 'llm-key', '-n', ns, `--from-literal=apiKey=${UPSTREAM_KEY}`]);
  // In a cluster the gateway is reached through its Service; the test process plays the Pod.
  controller = await startControllerProcess({
    auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-k8s-')), 'audit.jsonl'),
    args: ['-n', ns, '--gateway-bind-address', '127.0.0.1:0', '--gateway-advertise-url', ADVERTISED],
  });
  gateway = String((await controller.waitForLog((l) => l.msg === 'model gateway listening')).url);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`, `agentmachineprofile/${GATEWAY_PROFILE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
  await upstream?.close();
});

/** Plays the scheduler and the kubelet: the Pod is bound, runs, and exits with `exitCode`. */
async function kubeletRuns(pod: any, exitCode: number): Promise<void> {
  await admin.request({ method: 'POST', path: PODS.apiPath(ns, pod.metadata.name, 'binding'), body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.metadata.name }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } } });
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const terminated = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: at, finishedAt: at } };
  await admin.request({
    method: 'PATCH',
    path: PODS.apiPath(ns, pod.metadata.name, 'status'),
    contentType: PatchStrategy.MergePatch,
    body: { status: { phase: exitCode === 0 ? 'Succeeded' : 'Failed', containerStatuses: [{ name: CONTAINER_NAME, image: IMAGE, imageID: `${IMAGE}@sha256:${'a'.repeat(64)}`, ready: false, restartCount: 0, state: terminated }] } },
  });
}

test('runtime kubernetes: a hardened Pod and a NetworkPolicy that reaches only the gateway; the kubelet-reported exit completes the execution', async () => {
  const execution = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name: 'pod-agent', namespace: ns },
    spec: {
      profileRef: { name: PROFILE },
      runtime: 'kubernetes',
      authority: authority('alice', ['agent_machine.execution.start', 'agent_machine.container.run']),
      containers: [{ name: 'agent', image: IMAGE, command: ['sh', '-c', 'echo hi'], env: [{ name: 'MODE', value: 'offline' }] }],
      budget: { sandboxMemoryBytes: 64 * MiB, localDiskBytes: 8 * MiB, wallClockSeconds: 120 },
    },
  };
  assert.equal((await createAs('alice', execution)).code, 0);
  // No scheduler or kubelet here: the Pod exists and never ran, and says so (not Running).
  const record = await eventually('the container record Pending on its Pod', async () => {
    const r = await getObject<any>('ContainerExecutionRecord', 'pod-agent-agent', ns);
    if (r?.status?.phase === 'Pending' && r.status.containerId && r.status.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'PodPending') return r;
    throw new Error(JSON.stringify({ phase: r?.status?.phase, containerId: r?.status?.containerId, ready: r?.status?.conditions?.find((c: any) => c.type === 'Ready') }));
  });
  assert.equal(record.status.startedAt, undefined, 'no container ran: no start time');
  assert.match(record.status.conditions.find((c: any) => c.type === 'Ready').message, /^waiting: the Pod is not scheduled to a node yet$/);
  const waitingExecution = await eventually('the execution tells the Pod has not run', async () => {
    const s = (await getObject<any>('LocalAgentExecution', 'pod-agent', ns))?.status;
    return s?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'PodPending' ? s : undefined;
  });
  assert.match(waitingExecution.conditions.find((c: any) => c.type === 'Ready').message, /^waiting: container record pod-agent-agent: the Pod is not scheduled to a node yet$/);
  const pods = await admin.request<any>({ method: 'GET', path: PODS.apiPath(ns), query: { labelSelector: `${RECORD_UID_LABEL}=${record.metadata.uid}` } });
  assert.equal(pods.items.length, 1);
  const pod = pods.items[0];
  const c = pod.spec.containers[0];
  assert.equal(pod.spec.restartPolicy, 'Never');
  assert.equal(pod.spec.automountServiceAccountToken, false);
  assert.equal(pod.spec.activeDeadlineSeconds, 120);
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(c.resources.limits.memory, String(64 * MiB));
  assert.ok(!pod.spec.schedulingGates?.length, 'the setup gate is removed once policy and secret exist');
  const policy = await admin.request<any>({ method: 'GET', path: NETWORK_POLICIES.apiPath(ns, pod.metadata.name) });
  assert.deepEqual([...policy.spec.policyTypes].sort(), ['Egress', 'Ingress']);
  // Network none: the gateway Pods only (an airgapped agent may call local models), no DNS, nothing else.
  assert.deepEqual(policy.spec.egress, [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'agent-machine-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'agent-machine' } } }] }], 'network none: the gateway only');
  assert.deepEqual(policy.spec.ingress ?? [], []);

  // Play the scheduler and the kubelet: bound, running, then exited 0.
  await admin.request({ method: 'POST', path: PODS.apiPath(ns, pod.metadata.name, 'binding'), body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.metadata.name }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } } });
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await admin.request({
    method: 'PATCH',
    path: PODS.apiPath(ns, pod.metadata.name, 'status'),
    contentType: PatchStrategy.MergePatch,
    body: { status: { phase: 'Running', containerStatuses: [{ name: CONTAINER_NAME, image: IMAGE, imageID: `${IMAGE}@sha256:${'a'.repeat(64)}`, ready: true, restartCount: 0, state: { running: { startedAt: at } } }] } },
  });
  const running = await eventually('the record Running once its container runs', async () => {
    const r = await getObject<any>('ContainerExecutionRecord', 'pod-agent-agent', ns);
    return r?.status?.phase === 'Running' ? r : undefined;
  });
  assert.equal(running.status.startedAt, at, 'the start time the kubelet reported');
  const terminated = { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } };
  await admin.request({
    method: 'PATCH',
    path: PODS.apiPath(ns, pod.metadata.name, 'status'),
    contentType: PatchStrategy.MergePatch,
    body: { status: { phase: 'Succeeded', containerStatuses: [{ name: CONTAINER_NAME, image: IMAGE, imageID: `${IMAGE}@sha256:${'a'.repeat(64)}`, ready: false, restartCount: 0, state: terminated }] } },
  });
  const status = await eventually('execution Succeeded', async () => {
    const s = (await getObject<any>('LocalAgentExecution', 'pod-agent', ns))?.status;
    return s?.phase === 'Succeeded' ? s : undefined;
  });
  assert.equal(status.containers[0].exitCode, 0);
  const done = await getObject<any>('ContainerExecutionRecord', 'pod-agent-agent', ns);
  assert.equal(done.status.runtime, 'kubernetes');
  assert.equal(done.status.imageDigest, `${IMAGE}@sha256:${'a'.repeat(64)}`, 'the pinned image the kubelet ran');
});

test('runtime kubernetes + gateway: the Pod gets the advertised gateway URL and its token from a Secret, the NetworkPolicy lets it reach only the gateway, and the token works until the Pod exits', async () => {
  const binding = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ModelProviderBinding',
    metadata: { name: 'llm', namespace: ns },
    spec: { profileRef: { name: GATEWAY_PROFILE }, provider: 'openai-compatible', endpoint: upstream.url, model: 'test-model', credentialsSecretRef: { name: 'llm-key', key: 'apiKey' }, owner: 'alice', authority: authority('alice', ['agent_machine.model_provider.bind']) },
  };
  assert.equal((await createAs('alice', binding)).code, 0);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', '-n', ns, 'modelproviderbinding/llm']);
  const execution = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name: 'pod-llm', namespace: ns },
    spec: {
      profileRef: { name: GATEWAY_PROFILE },
      runtime: 'kubernetes',
      authority: authority('alice', ['agent_machine.execution.start', 'agent_machine.container.run']),
      containers: [{ name: 'agent', image: IMAGE, command: ['agent'] }],
      modelProviderRef: { name: 'llm' },
      budget: { sandboxMemoryBytes: 64 * MiB, localDiskBytes: 8 * MiB, wallClockSeconds: 120, modelCalls: 5, tokens: 1_000 },
    },
  };
  assert.equal((await createAs('alice', execution)).code, 0);
  const record = await eventually('the container record', async () => {
    const r = await getObject<any>('ContainerExecutionRecord', 'pod-llm-agent', ns);
    // Its Pod exists (never scheduled here: no scheduler): Pending with a container id.
    if (r?.status?.phase === 'Pending' && r.status.containerId) return r;
    const ex = (await getObject<any>('LocalAgentExecution', 'pod-llm', ns))?.status;
    throw new Error(JSON.stringify({ record: r?.status, execution: ex?.phase, conditions: ex?.conditions?.map((c: any) => `${c.type}=${c.status} ${c.reason}: ${c.message}`) }));
  });
  const pod = (await admin.request<any>({ method: 'GET', path: PODS.apiPath(ns), query: { labelSelector: `${RECORD_UID_LABEL}=${record.metadata.uid}` } })).items[0];
  const env = pod.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: any }>;
  // Every env value lives in the Pod's env Secret: the Pod spec names keys, never values.
  const envValue = async (name: string): Promise<string> => {
    const ref = env.find((e) => e.name === name);
    assert.ok(ref && ref.value === undefined && ref.valueFrom?.secretKeyRef, `${name} comes from a Secret: ${JSON.stringify(ref)}`);
    const secret = await admin.core.readNamespacedSecret({ name: ref.valueFrom.secretKeyRef.name, namespace: ns });
    return Buffer.from(secret.data![ref.valueFrom.secretKeyRef.key]!, 'base64').toString();
  };
  assert.equal(await envValue('OPENAI_BASE_URL'), `${ADVERTISED}/v1`);
  assert.ok(!JSON.stringify(pod).includes('amx_'), 'no token anywhere in the Pod');
  const token = await envValue('OPENAI_API_KEY');
  const tokenSecret = await admin.core.readNamespacedSecret({ name: 'pod-llm-gateway-token', namespace: ns });
  assert.equal(token, Buffer.from(tokenSecret.data!.token!, 'base64').toString(), 'the Pod gets the execution token');

  const policy = await admin.request<any>({ method: 'GET', path: NETWORK_POLICIES.apiPath(ns, pod.metadata.name) });
  const peers = (policy.spec.egress ?? []).flatMap((r: any) => r.to ?? []);
  assert.ok(peers.some((p: any) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'agent-machine-system' && p.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'agent-machine'), JSON.stringify(policy.spec.egress));
  assert.ok(!(policy.spec.egress ?? []).some((r: any) => !r.to && !r.ports), 'no allow-all egress rule');

  const call = async () => {
    const res = await fetch(`${gateway}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] }) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ok = await call();
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.object, 'chat.completion');

  await kubeletRuns(pod, 0);
  await eventually('execution Succeeded', async () => ((await getObject<any>('LocalAgentExecution', 'pod-llm', ns))?.status?.phase === 'Succeeded' ? true : undefined));
  const after = await eventually('token refused once the Pod exited', async () => {
    const r = await call();
    return r.status === 401 ? r : undefined;
  });
  assert.equal(after.body.error.code, 'token_expired');
});
