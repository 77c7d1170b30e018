// The in-cluster install on a REAL node (test/support/node.ts): `make image`, the image imported
// into the node's containerd, `kubectl apply -k` of manifests/, and the controller Deployment's
// two replicas running as Pods: elected leader, leader label, the gateway Service's Endpoints
// following the label across a deleted leader Pod, and the examples reconciled by the in-cluster
// controller with agents in real Pods. (install-manifests.test.ts holds the dry run and the
// RBAC-as-the-ServiceAccount check; this file runs what they describe.)
//
// Two things a real cluster has and this node has not, and what stands in for them:
// - No kube-proxy (its iptables rules live in host-global KUBE-* chains that concurrent runs on
//   one machine would overwrite), so no ClusterIP routes, the `kubernetes` Service's included.
//   The API server (shared by the run, listening on 127.0.0.1) is reached from the Pods through
//   a TCP forwarder on the node's own address: what kube-proxy's old userspace mode did for that
//   one Service. The Deployment is applied through a kustomize overlay of manifests/ that points
//   KUBERNETES_SERVICE_HOST/PORT at it, by a name the apiserver's certificate holds
//   (kubernetes.default.svc, mapped to the node's address with hostAliases): TLS is verified.
// - No cluster DNS, so the advertised gateway URL (agent-machine-gateway.agent-machine-system.svc)
//   does not resolve in a Pod: the gateway is reached at the address the Service's Endpoints
//   name, which proves the leader-label routing, not the ClusterIP translation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import type { LocalNode } from '../../src/dev/local-node.ts';
import { DEV_TENANT_NAMESPACE } from '../../src/dev/dev-environment.ts';
import { LEADER_LABEL } from '../../src/controller/leader-pod-label.ts';
import { TENANT_LABEL } from '../../src/governance/tenancy.ts';
import { PODS } from '../../src/operator/resource.ts';
import { bindDelegatorRole, grantEditorRole, installApi, revokeEditorRole } from '../support/install.ts';
import { adminKubeConfig, controlPlaneParts, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startTestNode } from '../support/node.ts';
import { admin, eventually, getObject } from '../support/objects.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
// A tag of this run's own: `make image` in another checkout on the machine retags :dev (rootful
// podman is shared). The overlay points the Deployment at it with kustomize's `images:`.
const TAG = `incluster-${randomBytes(4).toString('hex')}`;
const IMAGE = `localhost/agent-machine:${TAG}`;
const SYSTEM_NS = 'agent-machine-system';
const DEPLOYMENT = 'agent-machine-controller';
const SELECTOR = 'app.kubernetes.io/name=agent-machine,app.kubernetes.io/component=controller';
const API_HOST = 'kubernetes.default.svc';
// What the ServiceAccount admission plugin adds to every Pod, written out: the shared API server
// runs with that plugin off (no controller-manager creates the `default` ServiceAccount other
// files' Pods would need). The kubelet fills it: a bound token by TokenRequest, the CA from the
// kube-root-ca.crt ConfigMap (published by the node's controller-manager), the namespace.
const SA_VOLUME = {
  name: 'kube-api-access',
  projected: {
    defaultMode: 0o444,
    sources: [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
  },
};
const probeNs = `incluster-${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(tmpdir(), 'am-incluster-'));
const fileStarted = performance.now();
const log = (m: string) => console.log(`in-cluster: ${m}`);
let node: LocalNode | undefined;
let forwarder: TcpProxy | undefined;
let examplesApplied = false;
// The examples this node can run: tenants/acme-build asks for 2 CPUs (all this node has) for an
// image of an unreachable registry, so it would hold the node's CPU and run nothing, and
// containers/sandbox-smoke asks for `runtime: docker`, which the in-cluster Deployment has no
// engine for (it waits, saying so: see the log line of the test).
const EXAMPLE_DIRS = ['profiles', 'model-providers', 'tool-grants', 'executions'].flatMap((d) => ['-f', path.join(root, 'examples', d)]);

before(async () => {
  await installApi();
  // installApi applied manifests/ as is; the overlay below re-creates the Deployment. Nothing
  // on this node should run the unpatched one first (its Pods could not reach the API server).
  await kubectl(['delete', 'deployment', DEPLOYMENT, '-n', SYSTEM_NS, '--ignore-not-found']);
  const t0 = performance.now();
  // Built while the node starts: the build checks the image runs (podman), the node imports it.
  const [built, started] = await Promise.allSettled([
    run('bash', [path.join(root, 'scripts/build-image.sh')], { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, IMAGE } }).then(() => Math.round(performance.now() - t0)),
    startTestNode(log, {
      // The Deployment's ReplicaSet and Pods, and the CA a Pod's ServiceAccount volume carries.
      extraControllers: ['deployment', 'replicaset'],
      rootCaFile: path.join(controlPlaneParts().dataDir, 'pki', 'apiserver.crt'),
    }),
  ]);
  // Kept for after() even when the build failed: the node must be stopped.
  if (started.status === 'fulfilled') node = started.value;
  if (built.status === 'rejected') throw new Error(`make image failed: ${(built.reason as { stderr?: string }).stderr?.slice(-2000) ?? built.reason}`);
  if (started.status === 'rejected') throw started.reason;
  node = started.value;
  log(`make image ${built.value} ms; node Ready in ${node.startupMs} ms`);
  const t1 = performance.now();
  await node.importImage(IMAGE);
  log(`${IMAGE} imported into the node's containerd in ${Math.round(performance.now() - t1)} ms`);
  forwarder = new TcpProxy(adminKubeConfig());
  await forwarder.listen(node.address);
  await admin.core.createNamespace({ body: { metadata: { name: probeNs } } });
});

after(async () => {
  const t = performance.now();
  try {
    // The controller must still run for the examples' finalizers to be released.
    if (examplesApplied) {
      await kubectl(['delete', '-R', ...EXAMPLE_DIRS, '--ignore-not-found', '--wait=true', '--timeout=55s'], { check: false });
    }
    await revokeEditorRole('alice');
    await kubectl(['delete', 'clusterrolebinding', 'agent-machine-delegator-alice', '--ignore-not-found'], { check: false });
    // Deleted while the kubelet runs, which confirms it (a namespace is not: no namespace controller).
    await kubectl(['delete', 'pods', '--all', '-n', probeNs, '--wait=true', '--timeout=50s'], { check: false });
    // Pods of this install must not outlive the node: a later file's node (same name) would
    // be handed them. installApi in later files re-creates the Deployment, which nothing runs
    // there (no deployment controller).
    await kubectl(['delete', 'deployment', DEPLOYMENT, '-n', SYSTEM_NS, '--cascade=foreground', '--ignore-not-found', '--timeout=120s'], { check: false });
    await eventually('the controller Pods gone', async () => (await controllerPods()).length === 0, 120_000, 500).catch((err) => log(String(err)));
    await kubectl(['delete', 'lease', DEPLOYMENT, '-n', SYSTEM_NS, '--ignore-not-found'], { check: false });
    await kubectl(['delete', 'namespace', probeNs, '--wait=false', '--ignore-not-found'], { check: false });
  } finally {
    await run('podman', ['rmi', '--force', IMAGE]).catch(() => {});
    await forwarder?.down();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
    log(`cleaned up in ${Math.round(performance.now() - t)} ms; file ran ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  }
});

async function controllerPods(): Promise<V1Pod[]> {
  const list = await admin.request<{ items: V1Pod[] }>({ method: 'GET', path: PODS.apiPath(SYSTEM_NS), query: { labelSelector: SELECTOR } });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

const isReady = (p: V1Pod) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function gatewayEndpointIps(): Promise<string[]> {
  const ep = await admin.core.readNamespacedEndpoints({ name: 'agent-machine-gateway', namespace: SYSTEM_NS }).catch(() => undefined);
  return (ep?.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip)).sort();
}

async function leaseHolder(): Promise<string> {
  const { stdout } = await kubectl(['get', 'lease', DEPLOYMENT, '-n', SYSTEM_NS, '-o', 'jsonpath={.spec.holderIdentity}'], { check: false });
  return stdout;
}

/** Two Ready replicas on the node, one of them labelled leader, holding the Lease, and the only gateway Endpoint. */
async function settledLeader(timeoutMs: number, notPod?: string): Promise<{ leader: V1Pod; standby: V1Pod }> {
  let seen = '';
  try {
    return await eventually(
      'two Ready replicas, one leading',
      async () => {
        const pods = await controllerPods();
        const leaders = pods.filter((p) => p.metadata?.labels?.[LEADER_LABEL] === 'true');
        const holder = await leaseHolder();
        const endpoints = await gatewayEndpointIps();
        seen = `pods ${pods.map((p) => `${p.metadata?.name}:${p.status?.phase}:${isReady(p) ? 'ready' : 'not-ready'}:${p.metadata?.labels?.[LEADER_LABEL] ?? '-'}`).join(' ')}; lease ${holder}; endpoints ${endpoints.join(',')}`;
        if (pods.length !== 2 || !pods.every(isReady) || leaders.length !== 1) return undefined;
        const leader = leaders[0]!;
        if (leader.metadata?.name === notPod) return undefined;
        if (!holder.startsWith(`${leader.metadata?.name}_`)) return undefined;
        if (endpoints.join(',') !== leader.status?.podIP) return undefined;
        return { leader, standby: pods.find((p) => p !== leader)! };
      },
      timeoutMs,
      500,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${seen}`);
  }
}

test('kubectl apply -k: the controller Deployment runs as two real Pods on the node, both Ready, one leading with the label the gateway Service selects', async () => {
  // An overlay of manifests/ as a user's would be: only where the API server is (see the top).
  const overlay = path.join(dir, 'overlay');
  const patch = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: DEPLOYMENT, namespace: SYSTEM_NS },
    spec: {
      template: {
        spec: {
          hostAliases: [{ ip: node!.address, hostnames: [API_HOST] }],
          containers: [
            {
              name: 'controller',
              env: [{ name: 'KUBERNETES_SERVICE_HOST', value: API_HOST }, { name: 'KUBERNETES_SERVICE_PORT', value: String(forwarder!.port) }],
              volumeMounts: [{ name: SA_VOLUME.name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
            },
          ],
          volumes: [SA_VOLUME],
        },
      },
    },
  };
  rmSync(overlay, { recursive: true, force: true });
  await run('mkdir', ['-p', overlay]);
  writeFileSync(path.join(overlay, 'kustomization.yaml'), JSON.stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [path.relative(overlay, path.join(root, 'manifests'))], images: [{ name: 'localhost/agent-machine', newTag: TAG }], patches: [{ patch: JSON.stringify(patch) }] }));
  // A Lease left by an earlier file's controller would only delay the election.
  await kubectl(['delete', 'lease', DEPLOYMENT, '-n', SYSTEM_NS, '--ignore-not-found']);
  const applied = performance.now();
  const r = await kubectl(['apply', '-k', overlay, '--server-side', '--force-conflicts'], { check: false });
  assert.equal(r.code, 0, r.stderr);
  await kubectl(['rollout', 'status', `deployment/${DEPLOYMENT}`, '-n', SYSTEM_NS, '--timeout=180s']).catch(async (err) => {
    const { stdout } = await kubectl(['describe', 'pods', '-n', SYSTEM_NS, '-l', SELECTOR], { check: false });
    const logs = await kubectl(['logs', '-n', SYSTEM_NS, '-l', SELECTOR, '--tail=20', '--previous'], { check: false });
    throw new Error(`${(err as Error).message}\n${stdout.slice(-3000)}\nlogs:\n${logs.stdout}${logs.stderr}`);
  });
  log(`apply → Deployment available in ${Math.round(performance.now() - applied)} ms`);
  const { leader, standby } = await settledLeader(60_000);
  log(`apply → leader labelled and the gateway Endpoints on it in ${Math.round(performance.now() - applied)} ms`);
  for (const p of [leader, standby]) {
    assert.equal(p.spec?.nodeName, node!.nodeName, 'scheduled onto the real node');
    assert.equal(p.spec?.containers[0]?.image, IMAGE);
    assert.equal(p.status?.containerStatuses?.[0]?.restartCount, 0, `${p.metadata?.name} never restarted`);
  }
  // The in-cluster credentials are the ServiceAccount's: the kubelet mounted its token.
  assert.equal(leader.spec?.serviceAccountName, 'agent-machine-controller');
  const { stdout: logs } = await kubectl(['logs', '-n', SYSTEM_NS, leader.metadata!.name!, '--tail=200']);
  assert.match(logs, /"msg":"became leader"/);
  assert.doesNotMatch(logs, /eyJ[A-Za-z0-9_-]{20,}\./, 'no token in the log');
});

/** A bare Pod on the node that asks each address for /v1/models and prints the status lines. */
async function probeFromPod(name: string, targets: Record<string, string>): Promise<string> {
  const script = Object.entries(targets)
    .map(([label, ip]) => `echo "== ${label}"; wget -S -T 5 -O /dev/null http://${ip}:8081/v1/models 2>&1 | grep -E '^ *HTTP/|x-agent-machine-reason'; true`)
    .join('; ');
  await admin.core.createNamespacedPod({
    namespace: probeNs,
    body: {
      metadata: { name },
      spec: { restartPolicy: 'Never', automountServiceAccountToken: false, terminationGracePeriodSeconds: 1, containers: [{ name: 'probe', image: sandboxImage(), command: ['sh', '-c', script] }] },
    },
  });
  await eventually(`probe Pod ${name} done`, async () => {
    const p = await admin.core.readNamespacedPod({ name, namespace: probeNs });
    if (p.status?.phase === 'Failed') throw new Error(`probe Pod failed: ${JSON.stringify(p.status)}`);
    return p.status?.phase === 'Succeeded';
  }, 60_000, 250);
  const { stdout } = await kubectl(['logs', '-n', probeNs, name]);
  return stdout;
}

function section(out: string, label: string): string {
  return out.split('== ').find((s) => s.startsWith(label)) ?? '';
}

test('a Pod reaches the gateway at the address the agent-machine-gateway Endpoints name: the leader answers, the standby says 503 gateway_inactive', async () => {
  const { leader, standby } = await settledLeader(30_000);
  const [endpoint] = await gatewayEndpointIps();
  const out = await probeFromPod('probe-1', { endpoint: endpoint!, standby: standby.status!.podIP! });
  log(`probe:\n${out}`);
  assert.equal(endpoint, leader.status?.podIP);
  // Without a token the leader's gateway refuses with 401; it is active (not 503).
  assert.match(section(out, 'endpoint'), /HTTP\/1\.1 401/, out);
  assert.match(section(out, 'standby'), /HTTP\/1\.1 503/, out);
});

test('leader failover: the leader Pod deleted, the standby takes the Lease and the label, the Endpoints follow it, and the Deployment is back to two Ready replicas', async () => {
  const before = await settledLeader(30_000);
  const oldLeader = before.leader.metadata!.name!;
  const deleted = performance.now();
  // A graceful delete, as a drain or rollout does: SIGTERM, the Lease released.
  await kubectl(['delete', 'pod', oldLeader, '-n', SYSTEM_NS, '--wait=false']);
  const newLeader = await eventually('the standby labelled leader', async () => {
    const pods = await controllerPods();
    return pods.find((p) => p.metadata?.name === before.standby.metadata?.name && p.metadata?.labels?.[LEADER_LABEL] === 'true');
  }, 60_000, 250);
  const labelledMs = Math.round(performance.now() - deleted);
  await eventually('the gateway Endpoints on the new leader', async () => (await gatewayEndpointIps()).join(',') === newLeader.status?.podIP, 60_000, 250);
  const endpointsMs = Math.round(performance.now() - deleted);
  const after = await settledLeader(180_000, oldLeader);
  log(`leader Pod deleted → standby labelled ${labelledMs} ms, Endpoints moved ${endpointsMs} ms, two Ready replicas again ${Math.round(performance.now() - deleted)} ms`);
  assert.equal(after.leader.metadata?.name, before.standby.metadata?.name, 'the standby leads');
  assert.notEqual(after.standby.metadata?.name, oldLeader, 'the deleted Pod was replaced');
  const out = await probeFromPod('probe-2', { endpoint: (await gatewayEndpointIps())[0]!, standby: after.standby.status!.podIP! });
  assert.match(section(out, 'endpoint'), /HTTP\/1\.1 401/, out);
  assert.match(section(out, 'standby'), /HTTP\/1\.1 503/, out);
});

test('kubectl apply -R of the profile, model provider, grant and execution examples as alice: the in-cluster controller makes the profiles and the grant Ready and runs hello-agent in a real Pod', async () => {
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  const { name, tenant } = DEV_TENANT_NAMESPACE;
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [TENANT_LABEL]: tenant } } }) });
  examplesApplied = true;
  const applied = performance.now();
  const r = await kubectl(['apply', '-R', ...EXAMPLE_DIRS], { user: 'alice', check: false });
  assert.equal(r.code, 0, r.stderr);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=60s', 'agentmachineprofile', '--all']);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=60s', '-n', 'default', 'toolgrantrecord/issue-triage-github']);
  // (kubectl wait is not used for it: the helper kills kubectl after 60 s.)
  await eventually('hello-agent Succeeded', async () => {
    const phase = (await getObject<any>('LocalAgentExecution', 'hello-agent', 'default'))?.status?.phase;
    if (phase === 'Failed' || phase === 'Denied') throw new Error(`hello-agent ended ${phase}`);
    return phase === 'Succeeded';
  }, 180_000, 500).catch(async (err) => {
    const objects = await kubectl(['get', 'localagentexecution/hello-agent', 'containerexecutionrecord/hello-agent-agent', '-n', 'default', '-o', 'yaml'], { check: false });
    const pods = await kubectl(['get', 'pods', '-A', '-o', 'wide'], { check: false });
    const logs = await kubectl(['logs', '-n', SYSTEM_NS, '-l', `${LEADER_LABEL}=true`, '--tail=30'], { check: false });
    throw new Error(`${(err as Error).message}\n${objects.stdout.replace(/^\s+- allowed: true[\s\S]*?rule: .*$/gm, '').slice(-5000)}\npods:\n${pods.stdout}\nleader log:\n${logs.stdout}`);
  });
  log(`examples applied → hello-agent Succeeded in ${Math.round(performance.now() - applied)} ms`);
  const record = await getObject<any>('ContainerExecutionRecord', 'hello-agent-agent', 'default');
  assert.equal(record.status.runtime, 'kubernetes', JSON.stringify(record.status));
  assert.equal(record.status.exitCode, 0, JSON.stringify(record.status));
  // The log tail the controller (in its Pod) read from the kubelet through the API server.
  assert.match(record.status.logTail, /hello from an agent/);
  const listed = (await kubectl(['get', 'agent-machine', '-A'], { user: 'alice' })).stdout;
  log(`kubectl get agent-machine -A:\n${listed}`);
  for (const name of ['firewall-egress', 'issue-triage']) {
    const e = await getObject<any>('LocalAgentExecution', name, 'default');
    log(`${name}: ${e?.status?.phase} ${JSON.stringify(e?.status?.conditions?.filter((c: any) => c.type === 'Ready').map((c: any) => `${c.reason}: ${c.message}`))}`);
  }
});
