// The kubernetes runtime against a real kube-apiserver. There is no kubelet, scheduler or
// garbage collector in this control plane, so the test plays them where needed: it binds a
// Pod to a node name (the scheduler's pods/binding call), patches the Pod's status
// subresource (the kubelet's reports) and does the final delete of a terminating Pod (the
// kubelet's confirmation). Everything the runtime creates is really created and read back.
// The same runtime on a real node (containerd + kubelet + scheduler, real exit codes, OOM kills,
// deadlines and logs): test/integration/real-node.test.ts. The stand-ins stay for the states a
// real node rarely shows on demand (ImagePullBackOff, a node gone Unknown, ...).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import type { V1NetworkPolicy, V1Pod, V1Secret } from '@kubernetes/client-node';
import { createKubeClients, isNotFound } from '../../src/operator/kube-clients.ts';
import { PODS, SECRETS } from '../../src/operator/resource.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_UID_LABEL, RuntimeUnavailableError } from '../../src/runtimes/container-runtime.ts';
import type { ContainerRunSpec } from '../../src/runtimes/container-runtime.ts';
import { KubernetesRuntime, NETWORK_POLICIES } from '../../src/runtimes/kubernetes/kubernetes-runtime.ts';
import { CONTAINER_NAME, SETUP_GATE, podFor, podNameFor } from '../../src/runtimes/kubernetes/pod.ts';
import { adminKubeConfig, k8sVersion, kubectl } from '../support/integration-env.ts';

const admin = createKubeClients(adminKubeConfig());
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const GATEWAY = { namespace: 'agent-machine-system', podSelector: { 'app.kubernetes.io/name': 'agent-machine' }, port: 8443 };
const SECRET_VALUE = `sk-test-${randomBytes(12).toString('hex')}`;
const IMAGE = 'registry.example/agent@sha256:' + 'a'.repeat(64);
const IMAGE_ID = 'docker-pullable://registry.example/agent@sha256:' + 'a'.repeat(64);

// Namespaces cannot be deleted here (no namespace controller): one unique namespace per run.
const ns = `rt-k8s-${randomBytes(3).toString('hex')}`;
await admin.core.createNamespace({ body: { metadata: { name: ns } } });

function runtime(): KubernetesRuntime {
  return new KubernetesRuntime({ clients: admin, logger, gateway: GATEWAY });
}

function specFor(recordName: string, over: Partial<ContainerRunSpec> = {}): ContainerRunSpec {
  return {
    recordUid: randomUUID(),
    recordNamespace: ns,
    recordName,
    image: IMAGE,
    command: ['/bin/sh', '-c', 'echo hello'],
    env: { API_TOKEN: SECRET_VALUE, MODE: 'integration' },
    workingDir: '/workspace',
    limits: { memoryBytes: 128 * 1024 * 1024, cpuMillis: 250, pidsLimit: 64, scratchBytes: 16 * 1024 * 1024 },
    network: { mode: 'gateway-only' },
    workspace: { hostPath: '/srv/agent-workspaces/demo', mountPath: '/workspace' },
    outputs: [{ name: 'report', path: '/out/report' }],
    deadlineSeconds: 900,
    ...over,
  };
}

function get<T>(path: string): Promise<T | undefined> {
  return admin.request<T>({ method: 'GET', path }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
}
const getPod = (name: string) => get<V1Pod>(PODS.apiPath(ns, name));
const getPolicy = (name: string) => get<V1NetworkPolicy>(NETWORK_POLICIES.apiPath(ns, name));
const getSecret = (name: string) => get<V1Secret>(SECRETS.apiPath(ns, name));

async function podsOf(uid: string): Promise<V1Pod[]> {
  const list = await admin.request<{ items: V1Pod[] }>({ method: 'GET', path: PODS.apiPath(ns), query: { labelSelector: `${RECORD_UID_LABEL}=${uid}` } });
  return list.items;
}

/** Status as JSON on the wire (client-node's V1PodStatus types timestamps as Date). */
type RawPodStatus = Record<string, unknown>;

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** What a kubelet reports: the status subresource. */
async function kubeletReports(name: string, status: RawPodStatus): Promise<void> {
  await admin.request({ method: 'PATCH', path: PODS.apiPath(ns, name, 'status'), contentType: PatchStrategy.MergePatch, body: { status } });
}

function mainStatus(state: object, ready = false) {
  return [{ name: CONTAINER_NAME, image: IMAGE, imageID: IMAGE_ID, ready, started: ready, restartCount: 0, state }];
}

/** What the scheduler does: bind the Pod to a node (the node need not exist for the API). */
async function schedulerBinds(name: string, node = 'node-a'): Promise<void> {
  await admin.request({
    method: 'POST',
    path: PODS.apiPath(ns, name, 'binding'),
    body: { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
  });
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('ensure creates the Pod, its NetworkPolicy and env Secret, owned by the Pod; calling it again adopts', async () => {
  const rt = runtime();
  const spec = specFor('hello-agent');
  const name = podNameFor(spec);

  const obs = await rt.ensure(spec);
  assert.equal(obs.state, 'created');

  const pod = await getPod(name);
  assert.ok(pod, 'pod created');
  assert.equal(obs.id, pod.metadata?.uid);
  assert.equal(pod.metadata?.labels?.[RECORD_UID_LABEL], spec.recordUid);
  assert.equal(pod.metadata?.labels?.[MANAGED_BY_LABEL], MANAGED_BY);
  assert.deepEqual(pod.spec?.schedulingGates ?? [], [], 'released for scheduling once its policy and secret exist');
  const ps = pod.spec!;
  assert.equal(ps.restartPolicy, 'Never');
  assert.equal(ps.automountServiceAccountToken, false);
  assert.equal(ps.enableServiceLinks, false);
  assert.equal(ps.activeDeadlineSeconds, 900);
  assert.equal(ps.terminationGracePeriodSeconds, 10);
  assert.deepEqual(ps.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  const c = ps.containers[0]!;
  assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
  assert.deepEqual(c.resources?.limits, { memory: '134217728', cpu: '250m', 'ephemeral-storage': '16777216' });
  assert.deepEqual(c.resources?.requests, c.resources?.limits);
  const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  assert.equal(mounts['/workspace']?.readOnly, true);
  assert.equal(mounts['/workspace']?.recursiveReadOnly, 'IfPossible', 'the API server kept recursiveReadOnly');
  assert.ok(!mounts['/out/report']?.readOnly);
  assert.ok(!mounts['/tmp']?.readOnly);
  const volumes = Object.fromEntries((ps.volumes ?? []).map((v) => [v.name, v]));
  assert.deepEqual(volumes['workspace']?.hostPath, { path: '/srv/agent-workspaces/demo', type: 'Directory' });
  assert.deepEqual(volumes['tmp']?.emptyDir, { medium: 'Memory', sizeLimit: '16777216' });
  for (const e of c.env ?? []) assert.equal(e.valueFrom?.secretKeyRef?.name, `${name}-env`);

  // Not a secret value anywhere in what a reader of Pods and NetworkPolicies sees.
  const everything = await kubectl(['get', 'pods,networkpolicies', '-n', ns, '-o', 'json']);
  assert.ok(!everything.stdout.includes(SECRET_VALUE), 'secret value visible in pods or policies');
  assert.ok(!everything.stdout.includes(Buffer.from(SECRET_VALUE).toString('base64')));

  const owner = { apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata!.uid!, controller: true };
  const np = await getPolicy(name);
  assert.ok(np, 'network policy created');
  assert.deepEqual(np.metadata?.ownerReferences, [owner]);
  assert.deepEqual(np.spec?.podSelector, { matchLabels: { [RECORD_UID_LABEL]: spec.recordUid } });
  assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
  assert.equal(np.spec?.ingress, undefined);
  assert.deepEqual(np.spec?.egress?.[0]?.ports, [{ protocol: 'TCP', port: 8443 }]);
  assert.deepEqual(np.spec?.egress?.[1]?.ports, [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ]);

  const secret = await getSecret(`${name}-env`);
  assert.ok(secret, 'env secret created');
  assert.deepEqual(secret.metadata?.ownerReferences, [owner]);
  assert.equal(Buffer.from(secret.data?.['API_TOKEN'] ?? '', 'base64').toString(), SECRET_VALUE);
  assert.equal(Buffer.from(secret.data?.['MODE'] ?? '', 'base64').toString(), 'integration');

  // Order: policy and secret were written before the gate came off. resourceVersions are
  // opaque by contract, but on one etcd they are its revisions, which only grow.
  const rv = (o: { metadata?: { resourceVersion?: string } } | undefined) => BigInt(o?.metadata?.resourceVersion ?? '0');
  assert.ok(rv(np) < rv(pod), 'the NetworkPolicy existed before the Pod was released');
  assert.ok(rv(secret) < rv(pod), 'the env Secret existed before the Pod was released');

  // Again: the same Pod, and no write to what is already right.
  const again = await rt.ensure(spec);
  assert.equal(again.id, obs.id);
  assert.equal((await podsOf(spec.recordUid)).length, 1);
  assert.equal((await getPolicy(name))?.metadata?.resourceVersion, np.metadata?.resourceVersion);
  assert.equal((await getSecret(`${name}-env`))?.metadata?.resourceVersion, secret.metadata?.resourceVersion);

  // A restarted controller (fresh instance, empty cache) adopts it too.
  const restarted = await runtime().ensure(spec);
  assert.equal(restarted.id, obs.id);
  assert.equal((await podsOf(spec.recordUid)).length, 1);
});

test('ensure finishes the setup of a Pod a crash left gated, and repairs a deleted policy', async () => {
  const spec = specFor('crashed-mid-setup');
  const name = podNameFor(spec);
  // As if the controller died right after creating the Pod.
  const gated = await admin.request<V1Pod>({ method: 'POST', path: PODS.apiPath(ns), body: podFor(spec) });
  assert.deepEqual(gated.spec?.schedulingGates, [{ name: SETUP_GATE }]);
  assert.equal(await getPolicy(name), undefined);

  const rt = runtime();
  const obs = await rt.ensure(spec);
  assert.equal(obs.id, gated.metadata?.uid, 'adopted, not replaced');
  const pod = await getPod(name);
  assert.deepEqual(pod?.spec?.schedulingGates ?? [], []);
  assert.equal((await getPolicy(name))?.metadata?.ownerReferences?.[0]?.uid, gated.metadata?.uid);
  assert.ok(await getSecret(`${name}-env`));

  await admin.request({ method: 'DELETE', path: NETWORK_POLICIES.apiPath(ns, name) });
  await rt.ensure(spec);
  assert.ok(await getPolicy(name), 'policy re-created');
});

test('a Pod of that name belonging to another record is never adopted', async () => {
  const first = specFor('same-name');
  await runtime().ensure(first);
  // Same record name, a UID with the same first 8 characters: same Pod name.
  const other = { ...first, recordUid: first.recordUid.slice(0, 8) + '-0000-4000-8000-000000000000' };
  assert.equal(podNameFor(other), podNameFor(first));
  await assert.rejects(runtime().ensure(other), /belongs to record uid .*refusing to adopt it/);
  assert.equal((await getPod(podNameFor(first)))?.metadata?.labels?.[RECORD_UID_LABEL], first.recordUid);
});

test('playing the kubelet: inspect follows running, OOMKilled and success, and watch reports each change', async (t) => {
  const rt = runtime();
  const events: string[] = [];
  const unsubscribe = rt.watch((uid) => events.push(uid));
  t.after(unsubscribe);
  const count = (uid: string) => events.filter((u) => u === uid).length;

  const a = specFor('oom-agent');
  const nameA = podNameFor(a);
  await rt.ensure(a);
  await eventually(() => count(a.recordUid) >= 1, 'watch sees the new pod');

  let seen = count(a.recordUid);
  const started = now();
  await kubeletReports(nameA, { phase: 'Running', startTime: started, containerStatuses: mainStatus({ running: { startedAt: started } }, true) });
  const running = await rt.inspect(a.recordUid);
  assert.equal(running?.state, 'running');
  assert.equal(running?.startedAt, started);
  assert.equal(running?.imageDigest, 'registry.example/agent@sha256:' + 'a'.repeat(64));
  await eventually(() => count(a.recordUid) > seen, 'watch sees running');

  seen = count(a.recordUid);
  const finished = now();
  await kubeletReports(nameA, {
    phase: 'Failed',
    containerStatuses: mainStatus({ terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: started, finishedAt: finished } }),
  });
  const oom = await rt.inspect(a.recordUid);
  assert.equal(oom?.state, 'exited');
  assert.equal(oom?.exitCode, 137);
  assert.equal(oom?.oomKilled, true);
  assert.equal(oom?.finishedAt, finished);
  await eventually(() => count(a.recordUid) > seen, 'watch sees the OOM kill');

  const b = specFor('good-agent', { env: {} });
  const nameB = podNameFor(b);
  await rt.ensure(b);
  assert.equal(await getSecret(`${nameB}-env`), undefined, 'no env, no secret');
  await kubeletReports(nameB, { phase: 'Running', startTime: now(), containerStatuses: mainStatus({ running: { startedAt: now() } }, true) });
  await kubeletReports(nameB, { phase: 'Succeeded', containerStatuses: mainStatus({ terminated: { exitCode: 0, reason: 'Completed', startedAt: now(), finishedAt: now() } }) });
  const ok = await rt.inspect(b.recordUid);
  assert.deepEqual([ok?.state, ok?.exitCode, ok?.oomKilled], ['exited', 0, false]);
  await eventually(() => count(b.recordUid) >= 2, 'watch sees the second record');

  // Stopping an exited container changes nothing: its final status stays readable.
  await rt.stop(a.recordUid, 5);
  assert.equal((await rt.inspect(a.recordUid))?.oomKilled, true);

  // No kubelet, no log: logTail is best effort and says ''.
  assert.equal(await rt.logTail(a.recordUid, 4096), '');

  // After unsubscribing, nothing more is reported.
  unsubscribe();
  await new Promise((r) => setTimeout(r, 200));
  const frozen = events.length;
  await kubeletReports(nameB, { message: 'touched after unsubscribe' });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(events.length, frozen);
});

test('stop: in place for a Pod a node runs (deadline), by deletion for one no node has', async () => {
  const rt = runtime();
  const c = specFor('stopped-on-node');
  const nameC = podNameFor(c);
  await rt.ensure(c);
  await schedulerBinds(nameC);
  const started = now();
  await kubeletReports(nameC, { phase: 'Running', startTime: started, containerStatuses: mainStatus({ running: { startedAt: started } }, true) });

  await rt.stop(c.recordUid, 5);
  const stopped = await getPod(nameC);
  assert.ok(stopped, 'the pod stays, so its final status and log stay readable');
  assert.equal(stopped.spec?.activeDeadlineSeconds, 1);
  assert.equal(stopped.metadata?.deletionTimestamp, undefined);

  // The kubelet's verdict for a Pod past its deadline.
  await kubeletReports(nameC, {
    phase: 'Failed',
    reason: 'DeadlineExceeded',
    message: 'Pod was active on the node longer than the specified deadline',
    containerStatuses: mainStatus({ terminated: { exitCode: 137, reason: 'Error', startedAt: started, finishedAt: now() } }),
  });
  const obs = await rt.inspect(c.recordUid);
  assert.equal(obs?.state, 'exited');
  assert.equal(obs?.exitCode, undefined, 'a deadline kill has no exit code of its own');
  assert.equal(obs?.startedAt, started);

  const d = specFor('stopped-unscheduled');
  const nameD = podNameFor(d);
  await rt.ensure(d);
  await rt.stop(d.recordUid, 0);
  assert.equal(await getPod(nameD), undefined, 'an unbound pod is deleted at once');
  assert.equal(await rt.inspect(d.recordUid), undefined);
  assert.ok(await getPolicy(nameD), 'its policy is left for remove()');
  await rt.stop(d.recordUid, 0); // gone: no-op
  await rt.remove(d.recordUid);
  assert.equal(await getPolicy(nameD), undefined);
  assert.equal(await getSecret(`${nameD}-env`), undefined);
});

test('a fresh runtime finds Pods by label, lists record UIDs and removes everything', async () => {
  const first = runtime();
  const a = specFor('restart-a');
  const b = specFor('restart-b');
  const obsA = await first.ensure(a);
  await first.ensure(b);

  const fresh = runtime();
  const found = await fresh.inspect(a.recordUid);
  assert.equal(found?.id, obsA.id, 'found by label after a restart');
  assert.equal(await fresh.inspect(randomUUID()), undefined);

  const uids = await fresh.listRecordUids();
  assert.ok(uids.includes(a.recordUid) && uids.includes(b.recordUid));
  assert.equal(new Set(uids).size, uids.length);
  assert.ok((await fresh.listRecordUids(a.recordNamespace)).includes(a.recordUid));
  assert.ok(!(await fresh.listRecordUids(`other-${a.recordNamespace}`)).includes(a.recordUid), 'one namespace (-n): only its Pods');

  const nameA = podNameFor(a);
  await fresh.remove(a.recordUid);
  assert.equal(await getPod(nameA), undefined);
  assert.equal(await getPolicy(nameA), undefined);
  assert.equal(await getSecret(`${nameA}-env`), undefined);
  assert.equal(await fresh.inspect(a.recordUid), undefined);
  assert.ok(!(await fresh.listRecordUids()).includes(a.recordUid));
  await fresh.remove(a.recordUid); // no-op when gone

  // The Pod deleted by someone else, no garbage collector: a runtime that never saw it still
  // finds the policy (and the Secret next to it) by label.
  const nameB = podNameFor(b);
  await admin.request({ method: 'DELETE', path: PODS.apiPath(ns, nameB) });
  await runtime().remove(b.recordUid);
  assert.equal(await getPolicy(nameB), undefined);
  assert.equal(await getSecret(`${nameB}-env`), undefined);
});

test('remove keeps the NetworkPolicy while the Pod is still terminating on its node', async () => {
  const rt = runtime();
  const e = specFor('terminating');
  const name = podNameFor(e);
  await rt.ensure(e);
  await schedulerBinds(name);
  await kubeletReports(name, { phase: 'Running', startTime: now(), containerStatuses: mainStatus({ running: { startedAt: now() } }, true) });

  await rt.remove(e.recordUid);
  const terminating = await getPod(name);
  assert.ok(terminating?.metadata?.deletionTimestamp, 'a bound pod waits for its kubelet');
  assert.equal(terminating.metadata.deletionGracePeriodSeconds, 10);
  assert.ok(await getPolicy(name), 'the container may still run: its policy stays');
  assert.equal(await getSecret(`${name}-env`), undefined, 'the env secret is not needed any more');

  // The kubelet confirms the container is gone; the next remove() finishes.
  await admin.request({ method: 'DELETE', path: PODS.apiPath(ns, name), body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } });
  await rt.remove(e.recordUid);
  assert.equal(await getPolicy(name), undefined);
});

test('each network mode gives a policy the API server accepts', async () => {
  const rt = runtime();
  const gateway = { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'agent-machine-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'agent-machine' } } }], ports: [{ protocol: 'TCP', port: 8443 }] };
  const dns = { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] };
  const cases: Array<[ContainerRunSpec['network'], unknown]> = [
    // Airgapped: the gateway only (local models), not even DNS.
    [{ mode: 'none' }, [gateway]],
    [{ mode: 'open' }, [{}]],
    // Hosts, IP literals and the corporate proxy are the gateway's egress proxy's business.
    [{ mode: 'allowlist', proxy: 'http://10.96.0.50:3128', egressAllowlist: ['api.example.com', '192.0.2.7:443'] }, [gateway, dns]],
  ];
  for (const [network, egress] of cases) {
    const spec = specFor(`net-${network.mode}`, { network });
    await rt.ensure(spec);
    const np = await getPolicy(podNameFor(spec));
    assert.deepEqual(np?.spec?.policyTypes, ['Ingress', 'Egress'], network.mode);
    assert.deepEqual(np?.spec?.egress, egress, network.mode);
    // What the server defaults does not read as drift: a second ensure writes nothing.
    await rt.ensure(spec);
    assert.equal((await getPolicy(podNameFor(spec)))?.metadata?.resourceVersion, np?.metadata?.resourceVersion, network.mode);
  }
});

test('ping reports the server version; a dead server is RuntimeUnavailableError', async () => {
  assert.equal(await runtime().ping(), `kubernetes ${k8sVersion()}`);

  const port = await new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'dead', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'nobody', token: 'x' }],
    contexts: [{ name: 'dead', cluster: 'dead', user: 'nobody' }],
    currentContext: 'dead',
  });
  const dead = new KubernetesRuntime({ clients: createKubeClients(kc), logger });
  await assert.rejects(dead.ping(), (err: unknown) => err instanceof RuntimeUnavailableError && /unavailable/.test(err.message));
  await assert.rejects(dead.inspect(randomUUID()), RuntimeUnavailableError);
  await assert.rejects(dead.ensure(specFor('never')), RuntimeUnavailableError);
  await assert.rejects(dead.listRecordUids(), RuntimeUnavailableError);
  assert.equal(await dead.logTail(randomUUID(), 100), '');
  assert.equal(await dead.cpuSeconds(randomUUID()), undefined);
});
