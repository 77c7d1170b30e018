// The ground every other integration test stands on: a real kube-apiserver with RBAC and
// ValidatingAdmissionPolicy, and a real container engine that enforces the sandbox settings
// the docker runtime relies on. If this file fails, read no other failure first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import {
  BROKER_GROUP,
  adminKubeConfig,
  docker,
  engineVersion,
  k8sVersion,
  kubeConfigFor,
  kubectl,
  sandboxImage,
} from '../support/integration-env.ts';

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

/**
 * Splits a non-TTY log buffer of the Engine API: frames of [stream, 0, 0, 0, size (u32 BE)]
 * followed by size bytes, stream 1 = stdout, 2 = stderr. (dockerode's demuxStream wants a
 * stream; a finished container's logs come back as one Buffer.)
 */
function demux(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    const frame = buf.subarray(i + 8, i + 8 + size);
    (buf[i] === 2 ? err : out).push(frame);
    i += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

test('the API server is a real kube-apiserver v1.33', async (t) => {
  const info = await adminKubeConfig().makeApiClient(VersionApi).getCode();
  t.diagnostic(`kube-apiserver ${info.gitVersion} (${info.platform}, ${info.goVersion})`);
  assert.match(info.gitVersion, /^v1\.33\./);
  assert.equal(info.gitVersion, k8sVersion());
});

test('the bootstrap controller created the default namespaces (no controller-manager needed)', async () => {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['default', 'kube-system', 'kube-public']) {
    const ns = await core.readNamespace({ name });
    assert.equal(ns.metadata?.name, name);
  }
});

test('RBAC is enforced: a plain user is forbidden, the admin is allowed', async () => {
  const alice = kubeConfigFor('alice').makeApiClient(CoreV1Api);
  const admin = adminKubeConfig().makeApiClient(CoreV1Api);
  assert.equal(await statusOf(alice.listNamespace()), 403);
  assert.equal(await statusOf(alice.listNamespacedSecret({ namespace: 'default' })), 403);
  assert.equal(await statusOf(admin.listNamespace()), 200);
  assert.equal(await statusOf(admin.listNamespacedSecret({ namespace: 'default' })), 200);

  const denied = await kubectl(['get', 'secrets', '-n', 'default'], { user: 'bob', check: false });
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /forbidden/i);
  const whoami = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.groups}'], { user: 'gitops-broker' });
  assert.ok(whoami.stdout.includes(BROKER_GROUP), `gitops-broker's groups: ${whoami.stdout}`);
});

test('ValidatingAdmissionPolicy sees the requesting user and group', async (t) => {
  // The governance design's "who asked" check in miniature: an object may only name its
  // requester as owner, unless the requester is a broker.
  const suffix = randomBytes(3).toString('hex');
  const ns = `vap-${suffix}`;
  const policy = `foundation-owner-${suffix}`;
  const manifest = `
apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ${policy}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [configmaps]
  validations:
  - expression: >-
      object.data.owner == request.userInfo.username ||
      '${BROKER_GROUP}' in request.userInfo.groups
    messageExpression: "'owner ' + object.data.owner + ' is not the requester ' + request.userInfo.username"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ${policy}}
spec:
  policyName: ${policy}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: ${ns}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: configmap-writer, namespace: ${ns}}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, get, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: configmap-writer, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmap-writer}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: '${BROKER_GROUP}'}
`;
  await kubectl(['apply', '-f', '-'], { stdin: manifest });
  t.after(async () => {
    await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy, '--ignore-not-found'], {
      check: false,
    });
    // Stays Terminating: the namespace controller lives in the controller-manager, which this
    // control plane does not run. Harmless, and the name is unique per run.
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found'], { check: false });
  });

  const create = (user: string, name: string, owner: string) =>
    kubectl(['create', 'configmap', name, '-n', ns, `--from-literal=owner=${owner}`], { user, check: false });

  // The apiserver picks up new policies from an informer; poll until it enforces this one.
  const started = Date.now();
  let forged = await create('alice', 'forged', 'bob');
  while (forged.code === 0 && Date.now() - started < 15_000) {
    await kubectl(['delete', 'configmap', 'forged', '-n', ns], { user: 'alice' });
    await new Promise((r) => setTimeout(r, 200));
    forged = await create('alice', 'forged', 'bob');
  }
  t.diagnostic(`policy enforced after ${Date.now() - started} ms`);
  assert.notEqual(forged.code, 0, 'alice could create a configmap owned by bob');
  assert.match(forged.stderr, new RegExp(`ValidatingAdmissionPolicy '${policy}'.*owner bob is not the requester alice`));

  assert.equal((await create('alice', 'own', 'alice')).code, 0);
  const brokered = await create('gitops-broker', 'brokered', 'bob');
  assert.equal(brokered.code, 0, brokered.stderr);
});

test('podman runs a locked-down container through the Docker API', async (t) => {
  const engine = docker();
  const version = await engine.version();
  t.diagnostic(`engine: ${engineVersion()} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`);

  const label = `agent-machine.test/foundation-${randomBytes(3).toString('hex')}`;
  const container = await engine.createContainer({
    Image: sandboxImage(),
    Cmd: ['sh', '-c', 'echo hello-from-podman; echo to-stderr >&2; exit 3'],
    Labels: { [label]: 'true' },
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 64 * 1024 * 1024,
      PidsLimit: 64,
      // Any Ulimits over the API replace containers.conf's default_ulimits entirely; without
      // nproc, runc then tries to raise RLIMIT_NPROC above podman's own 32768 and fails
      // ("error setting rlimit type 6"). nproc counts per host uid, not per container, so
      // PidsLimit is the real per-container process cap.
      Ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
        { Name: 'nproc', Soft: 32768, Hard: 32768 },
      ],
    },
  });
  t.after(() => container.remove({ force: true }).catch(() => {}));

  const started = performance.now();
  await container.start();
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  t.diagnostic(`create+start+wait: ${Math.round(performance.now() - started)} ms`);
  assert.equal(StatusCode, 3);

  const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as Buffer;
  const { stdout, stderr } = demux(raw);
  assert.equal(stdout, 'hello-from-podman\n');
  assert.equal(stderr, 'to-stderr\n');

  const listed = await engine.listContainers({ all: true, filters: { label: [label] } });
  assert.equal(listed.length, 1);
  const info = await container.inspect();
  assert.equal(info.HostConfig.ReadonlyRootfs, true);
  assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);

  await container.remove();
  assert.equal((await engine.listContainers({ all: true, filters: { label: [label] } })).length, 0);
});
