// An execution on the kubernetes runtime, end to end through the reconcilers: the execution's
// container record becomes a hardened Pod with a deny-all NetworkPolicy (profile network none);
// this test plays the scheduler and the kubelet (the test control plane has neither), and the
// execution completes from what the "kubelet" reports.
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
import { NETWORK_POLICIES } from '../../src/runtimes/kubernetes-runtime.ts';
import { CONTAINER_NAME } from '../../src/runtimes/kubernetes-pod.ts';
import { RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';

const id = suffix();
const PROFILE = `k8s-airgapped-${id}`;
const IMAGE = 'registry.example.com/agents/hello:1.0';
let ns = '';
let controller: ControllerProcess;
const MiB = 1024 * 1024;

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
  controller = await startControllerProcess({ auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-k8s-')), 'audit.jsonl'), args: ['-n', ns] });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
});

test('runtime kubernetes: a hardened Pod and a deny-all NetworkPolicy; the kubelet-reported exit completes the execution', async () => {
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
  const record = await eventually('the container record', async () => {
    const r = await getObject<any>('ContainerExecutionRecord', 'pod-agent-agent', ns);
    return r?.status?.phase === 'Running' ? r : undefined;
  });
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
  assert.deepEqual(policy.spec.egress ?? [], [], 'network none: no egress at all');
  assert.deepEqual(policy.spec.ingress ?? [], []);

  // Play the scheduler and the kubelet: bound, running, then exited 0.
  await admin.request({ method: 'POST', path: PODS.apiPath(ns, pod.metadata.name, 'binding'), body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.metadata.name }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } } });
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
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
