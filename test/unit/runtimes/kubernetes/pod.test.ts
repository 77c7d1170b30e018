// The Pod and env Secret built from a ContainerRunSpec, and Pod status → observation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_NAME_LABEL, RECORD_UID_LABEL } from '../../../../src/runtimes/container-runtime.ts';
import type { ContainerRunSpec } from '../../../../src/runtimes/container-runtime.ts';
import {
  COLLECTOR_NAME,
  COLLECTOR_RESOURCES,
  CONTAINER_NAME,
  DEFAULT_COLLECTOR_IMAGE,
  collectCommand,
  SETUP_GATE,
  envKeys,
  envSecretFor,
  imageDigestOf,
  isGated,
  labelValue,
  observationFromPod,
  ownerReferenceTo,
  podFor,
  podNameFor,
} from '../../../../src/runtimes/kubernetes/pod.ts';

const SECRET = 'sk-live-0123456789abcdef';

function spec(over: Partial<ContainerRunSpec> = {}): ContainerRunSpec {
  return {
    recordUid: '3f2a9c1e-7b4d-4e8a-9f00-123456789abc',
    recordNamespace: 'team-a',
    recordName: 'hello-agent',
    image: 'registry.example/agent@sha256:' + 'a'.repeat(64),
    command: ['/bin/sh', '-c'],
    args: ['echo hi'],
    env: { API_TOKEN: SECRET, MODE: 'test' },
    workingDir: '/workspace',
    limits: { memoryBytes: 268435456, cpuMillis: 500, pidsLimit: 64, scratchBytes: 67108864 },
    network: { mode: 'none' },
    workspace: { hostPath: '/srv/ws/hello', mountPath: '/workspace' },
    outputs: [
      { name: 'report', path: '/out/report' },
      { name: 'logs', path: '/out/logs' },
    ],
    deadlineSeconds: 600,
    ...over,
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

test('pod names are deterministic DNS-1123 labels of at most 63 characters', () => {
  assert.equal(podNameFor(spec()), 'am-hello-agent-3f2a9c1e');
  assert.equal(podNameFor(spec()), podNameFor(spec()));
  const long = podNameFor(spec({ recordName: 'x'.repeat(200) }));
  assert.ok(long.length <= 63, long);
  assert.match(long, DNS_LABEL);
  assert.ok(long.endsWith('-3f2a9c1e'));
  for (const recordName of ['My.Record.Name', 'a.b', '-weird--name-', 'UPPER_case', 'x'.repeat(51) + '-yyy', '...']) {
    const name = podNameFor(spec({ recordName }));
    assert.match(name, DNS_LABEL, recordName);
    assert.ok(name.length <= 63);
  }
  assert.equal(podNameFor(spec({ recordName: '...' })), 'am-3f2a9c1e');
  assert.notEqual(podNameFor(spec({ recordUid: 'ffffffff-0000-0000-0000-000000000000' })), podNameFor(spec()));
});

test('label values are shortened and made valid', () => {
  assert.equal(labelValue('hello-agent'), 'hello-agent');
  const v = labelValue('a.' + 'b'.repeat(300) + '.');
  assert.ok(v.length <= 63);
  assert.match(v, /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
});

test('the pod is hardened: non-root, no privilege escalation, read-only root, no capabilities, seccomp', () => {
  const pod = podFor(spec());
  const ps = pod.spec!;
  assert.equal(ps.restartPolicy, 'Never');
  assert.equal(ps.automountServiceAccountToken, false);
  assert.equal(ps.enableServiceLinks, false);
  assert.deepEqual(ps.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  // The agent container and, as the spec declares outputs, the collector: both hardened alike.
  assert.deepEqual(ps.containers.map((c) => c.name), [CONTAINER_NAME, COLLECTOR_NAME]);
  for (const c of ps.containers) {
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    }, c.name);
  }
  assert.equal(ps.hostNetwork, undefined);
  assert.equal(ps.hostPID, undefined);
  assert.equal(ps.hostIPC, undefined);
});

test('labels, namespace, deadline, runtimeClass and the setup gate', () => {
  const pod = podFor(spec(), { runtimeClassName: 'gvisor', terminationGracePeriodSeconds: 7 });
  assert.equal(pod.metadata?.namespace, 'team-a');
  assert.deepEqual(pod.metadata?.labels, {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [RECORD_UID_LABEL]: '3f2a9c1e-7b4d-4e8a-9f00-123456789abc',
    [RECORD_NAME_LABEL]: 'hello-agent',
  });
  assert.equal(pod.spec?.activeDeadlineSeconds, 600);
  assert.equal(pod.spec?.runtimeClassName, 'gvisor');
  assert.equal(pod.spec?.terminationGracePeriodSeconds, 7);
  assert.deepEqual(pod.spec?.schedulingGates, [{ name: SETUP_GATE }]);
  assert.ok(isGated(pod));

  const plain = podFor(spec({ deadlineSeconds: undefined }));
  assert.equal(plain.spec?.activeDeadlineSeconds, undefined);
  assert.equal(plain.spec?.runtimeClassName, undefined);
  assert.equal(podFor(spec({ deadlineSeconds: 1.2 })).spec?.activeDeadlineSeconds, 2);
});

test('resources: requests equal limits for memory, cpu and ephemeral storage; no pids field exists', () => {
  const c = podFor(spec()).spec!.containers[0]!;
  const expected = { memory: '268435456', cpu: '500m', 'ephemeral-storage': '67108864' };
  assert.deepEqual(c.resources?.limits, expected);
  assert.deepEqual(c.resources?.requests, expected);
  assert.ok(!JSON.stringify(podFor(spec())).toLowerCase().includes('pids'));
});

test('non-positive or fractional limits are refused rather than turned into "no limit"', () => {
  assert.throws(() => podFor(spec({ limits: { memoryBytes: 0, cpuMillis: 500, pidsLimit: 64, scratchBytes: 1 } })), /memoryBytes/);
  assert.throws(() => podFor(spec({ limits: { memoryBytes: 1, cpuMillis: 0.5, pidsLimit: 64, scratchBytes: 1 } })), /cpuMillis/);
  assert.throws(() => podFor(spec({ limits: { memoryBytes: 1, cpuMillis: 1, pidsLimit: 64, scratchBytes: -1 } })), /scratchBytes/);
  assert.throws(() => podFor(spec({ deadlineSeconds: 0 })), /deadlineSeconds/);
});

test('volumes: tmpfs scratch, read-only hostPath workspace, writable output emptyDirs', () => {
  const ps = podFor(spec()).spec!;
  assert.deepEqual(ps.volumes, [
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '67108864' } },
    { name: 'workspace', hostPath: { path: '/srv/ws/hello', type: 'Directory' } },
    { name: 'out-0', emptyDir: {} },
    { name: 'out-1', emptyDir: {} },
  ]);
  const mounts = ps.containers[0]!.volumeMounts!;
  assert.deepEqual(mounts, [
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'workspace', mountPath: '/workspace', readOnly: true, recursiveReadOnly: 'IfPossible' },
    { name: 'out-0', mountPath: '/out/report' },
    { name: 'out-1', mountPath: '/out/logs' },
  ]);
  // Only outputs and /tmp are writable.
  const writable = mounts.filter((m) => !m.readOnly).map((m) => m.mountPath);
  assert.deepEqual(writable, ['/tmp', '/out/report', '/out/logs']);

  const bare = podFor(spec({ workspace: undefined, outputs: [] })).spec!;
  assert.deepEqual(bare.volumes?.map((v) => v.name), ['tmp']);
});

test('no env value appears anywhere in the pod: every variable is a secretKeyRef', () => {
  const pod = podFor(spec({ env: { API_TOKEN: SECRET, 'weird name=': 'v2', MODE: 'test' } }));
  const json = JSON.stringify(pod);
  assert.ok(!json.includes(SECRET), 'secret value leaked into the pod');
  assert.ok(!json.includes('"test"'));
  assert.ok(!json.includes('v2'));
  const env = pod.spec!.containers[0]!.env!;
  assert.deepEqual(env.map((e) => e.name), ['API_TOKEN', 'MODE', 'weird name=']);
  for (const e of env) {
    assert.equal(e.value, undefined);
    assert.equal(e.valueFrom?.secretKeyRef?.name, 'am-hello-agent-3f2a9c1e-env');
  }
  assert.equal(env[0]!.valueFrom?.secretKeyRef?.key, 'API_TOKEN');
  assert.equal(env[2]!.valueFrom?.secretKeyRef?.key, 'env.0');
  assert.equal(podFor(spec({ env: {} })).spec!.containers[0]!.env, undefined);
});

test('the env Secret holds the values under the keys the pod references, owned by the pod', () => {
  const owner = { apiVersion: 'v1', kind: 'Pod', name: 'am-hello-agent-3f2a9c1e', uid: 'pod-uid-1', controller: true };
  const s = envSecretFor(spec({ env: { API_TOKEN: SECRET, 'weird name=': 'ü' } }), owner)!;
  assert.equal(s.metadata?.name, 'am-hello-agent-3f2a9c1e-env');
  assert.equal(s.metadata?.namespace, 'team-a');
  assert.equal(s.metadata?.labels?.[RECORD_UID_LABEL], '3f2a9c1e-7b4d-4e8a-9f00-123456789abc');
  assert.deepEqual(s.metadata?.ownerReferences, [owner]);
  assert.equal(s.type, 'Opaque');
  assert.equal(Buffer.from(s.data!['API_TOKEN']!, 'base64').toString('utf8'), SECRET);
  assert.equal(Buffer.from(s.data!['env.0']!, 'base64').toString('utf8'), 'ü');
  assert.equal(envSecretFor(spec({ env: {} })), undefined);
});

test('env keys: valid names keep themselves, others get keys that cannot collide', () => {
  const keys = envKeys(['B', 'a b', 'env.0', 'c=d']);
  assert.equal(keys.get('B'), 'B');
  assert.equal(keys.get('env.0'), 'env.0');
  const generated = [keys.get('a b'), keys.get('c=d')];
  assert.deepEqual(generated, ['env.1', 'env.2']);
  assert.equal(new Set(keys.values()).size, 4);
});

test('ownerReferenceTo needs a created pod', () => {
  assert.throws(() => ownerReferenceTo(podFor(spec())), /no name\/uid/);
  const pod = { ...podFor(spec()), metadata: { name: 'p', uid: 'u' } };
  assert.deepEqual(ownerReferenceTo(pod), { apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u', controller: true });
});

/** Status as raw JSON (strings for timestamps), as the runtime reads it from the API. */
function podWith(status: unknown): V1Pod {
  return { metadata: { name: 'p', namespace: 'n', uid: 'pod-uid' }, spec: { containers: [{ name: CONTAINER_NAME }] }, status: status as V1Pod['status'] };
}

function cs(state: object, imageID = 'docker-pullable://registry.example/agent@sha256:' + 'b'.repeat(64)) {
  return [{ name: CONTAINER_NAME, image: 'img', imageID, ready: false, restartCount: 0, state }];
}

test('observation: pending (gated, pulling) is created, with the reason the kubelet or scheduler gives', () => {
  assert.deepEqual(observationFromPod(podWith(undefined)), { id: 'pod-uid', state: 'created', waiting: { reason: 'PodPending', message: 'the Pod is not scheduled to a node yet' } });
  assert.deepEqual(observationFromPod(podWith({ phase: 'Pending', containerStatuses: cs({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "img"' } }, '') })), {
    id: 'pod-uid',
    state: 'created',
    waiting: { reason: 'ImagePullBackOff', message: 'the Pod\'s container is waiting: ImagePullBackOff: Back-off pulling image "img"' },
  });
  const gatedStatus = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates' }] };
  const gated = observationFromPod({ ...podWith(gatedStatus), spec: { containers: [{ name: CONTAINER_NAME }], schedulingGates: [{ name: 'example.com/setup' }] } });
  assert.deepEqual(gated.waiting, { reason: 'SchedulingGated', message: 'the Pod is not scheduled: SchedulingGated: Scheduling is blocked due to non-empty scheduling gates' });
  assert.equal(observationFromPod(podWith(gatedStatus)).waiting?.reason, 'PodPending', 'gates removed: the API server\'s SchedulingGated is stale until a scheduler looks');
  const unschedulable = observationFromPod(podWith({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' }] }));
  assert.equal(unschedulable.waiting?.reason, 'Unschedulable');
  const gatedNoCondition = observationFromPod({ ...podWith({ phase: 'Pending' }), spec: { containers: [{ name: CONTAINER_NAME }], schedulingGates: [{ name: 'example.com/setup' }] } });
  assert.equal(gatedNoCondition.waiting?.reason, 'SchedulingGated');
  assert.equal(observationFromPod(podWith({ phase: 'Running', containerStatuses: cs({ running: {} }) })).waiting, undefined, 'running: no waiting reason');
});

test('observation: running with startedAt and image digest (runtime prefix stripped)', () => {
  const obs = observationFromPod(podWith({ phase: 'Running', containerStatuses: cs({ running: { startedAt: '2025-01-01T00:00:01Z' } }) }));
  assert.deepEqual(obs, {
    id: 'pod-uid',
    state: 'running',
    startedAt: '2025-01-01T00:00:01Z',
    imageDigest: 'registry.example/agent@sha256:' + 'b'.repeat(64),
  });
  // Typed client objects carry Dates.
  const typed = observationFromPod(podWith({ phase: 'Running', containerStatuses: cs({ running: { startedAt: new Date('2025-01-01T00:00:01Z') } }) }));
  assert.equal(typed.startedAt, '2025-01-01T00:00:01.000Z');
  assert.equal(observationFromPod(podWith({ phase: 'Unknown' })).state, 'running');
});

test('observation: OOMKilled, plain exit and success', () => {
  const oom = observationFromPod(
    podWith({
      phase: 'Failed',
      containerStatuses: cs({ terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: '2025-01-01T00:00:01Z', finishedAt: '2025-01-01T00:00:05Z' } }),
    }),
  );
  assert.equal(oom.state, 'exited');
  assert.equal(oom.exitCode, 137);
  assert.equal(oom.oomKilled, true);
  assert.equal(oom.startedAt, '2025-01-01T00:00:01Z');
  assert.equal(oom.finishedAt, '2025-01-01T00:00:05Z');

  const failed = observationFromPod(podWith({ phase: 'Failed', containerStatuses: cs({ terminated: { exitCode: 3, reason: 'Error' } }) }));
  assert.deepEqual([failed.state, failed.exitCode, failed.oomKilled], ['exited', 3, false]);

  const ok = observationFromPod(podWith({ phase: 'Succeeded', containerStatuses: cs({ terminated: { exitCode: 0, reason: 'Completed' } }) }));
  assert.deepEqual([ok.state, ok.exitCode, ok.oomKilled], ['exited', 0, false]);

  // The container terminated, the phase not updated yet: already exited (restartPolicy Never).
  const early = observationFromPod(podWith({ phase: 'Running', containerStatuses: cs({ terminated: { exitCode: 1 } }) }));
  assert.deepEqual([early.state, early.exitCode], ['exited', 1]);

  // Evicted / node lost: failed without a container verdict.
  const evicted = observationFromPod(podWith({ phase: 'Failed', reason: 'Evicted' }));
  assert.deepEqual([evicted.state, evicted.exitCode], ['exited', undefined]);
});

test('observation: DeadlineExceeded is exited without an exit code', () => {
  const obs = observationFromPod(
    podWith({
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      startTime: '2025-01-01T00:00:00Z',
      containerStatuses: cs({ terminated: { exitCode: 137, reason: 'Error', finishedAt: '2025-01-01T00:10:00Z' } }),
    }),
  );
  assert.equal(obs.state, 'exited');
  assert.equal(obs.exitCode, undefined);
  assert.equal(obs.oomKilled, undefined);
  assert.equal(obs.startedAt, '2025-01-01T00:00:00Z');
  assert.equal(obs.finishedAt, '2025-01-01T00:10:00Z');
});

test('image digests: scheme prefixes stripped, bare forms kept', () => {
  assert.equal(imageDigestOf('docker-pullable://busybox@sha256:abc'), 'busybox@sha256:abc');
  assert.equal(imageDigestOf('docker://sha256:abc'), 'sha256:abc');
  assert.equal(imageDigestOf('containerd://sha256:abc'), 'sha256:abc');
  assert.equal(imageDigestOf('docker.io/library/busybox@sha256:abc'), 'docker.io/library/busybox@sha256:abc');
  assert.equal(imageDigestOf('sha256:abc'), 'sha256:abc');
  assert.equal(imageDigestOf(''), undefined);
  assert.equal(imageDigestOf(undefined), undefined);
});

test('a Pod with outputs gets a collector: outputs read-only at the same paths, no env, requests = limits; none without outputs', () => {
  const ps = podFor(spec(), { collectorImage: 'localhost/sandbox:dev' }).spec!;
  const collector = ps.containers.find((c) => c.name === COLLECTOR_NAME)!;
  assert.equal(collector.image, 'localhost/sandbox:dev');
  assert.deepEqual(collector.volumeMounts, [
    { name: 'out-0', mountPath: '/out/report', readOnly: true },
    { name: 'out-1', mountPath: '/out/logs', readOnly: true },
  ]);
  assert.equal(collector.env, undefined);
  assert.equal(collector.envFrom, undefined);
  assert.ok(!JSON.stringify(collector).includes(SECRET));
  assert.deepEqual(collector.resources, { requests: COLLECTOR_RESOURCES, limits: COLLECTOR_RESOURCES });
  // It exits on SIGTERM: a bare sleep as PID 1 would hold remove() for the whole grace period.
  assert.match(collector.command!.join(' '), /trap 'exit 0' TERM/);
  assert.equal(podFor(spec()).spec!.containers[1]!.image, DEFAULT_COLLECTOR_IMAGE);
  assert.deepEqual(podFor(spec({ outputs: [] })).spec!.containers.map((c) => c.name), [CONTAINER_NAME]);
});

test('collectCommand: a tar of the path\'s last component from its parent (the shape of Docker\'s archive API)', () => {
  assert.deepEqual(collectCommand('/out'), ['tar', '-c', '-f', '-', '-C', '/', 'out']);
  assert.deepEqual(collectCommand('/work/out/'), ['tar', '-c', '-f', '-', '-C', '/work', 'out']);
  assert.throws(() => collectCommand('/'), /absolute path below/);
  assert.throws(() => collectCommand('out'), /absolute path below/);
});
