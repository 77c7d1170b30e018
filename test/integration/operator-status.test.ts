// Status writer, finalizers and event recorder against a real kube-apiserver with our CRDs.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { LOCAL_ADMIN_USER } from '../../src/dev/local-control-plane.ts';
import { EventRecorder, MAX_NOTE_BYTES, REPORTING_CONTROLLER } from '../../src/operator/events.ts';
import { FINALIZER, ensureFinalizer, hasFinalizer, removeFinalizer } from '../../src/operator/finalizers.ts';
import { MERGE_PATCH, createKubeClients, isConflict, statusCodeOf } from '../../src/operator/kube-clients.ts';
import { defineResource } from '../../src/operator/resource.ts';
import { setCondition } from '../../src/operator/conditions.ts';
import { StatusWriter } from '../../src/operator/status-writer.ts';
import { adminKubeConfig, kubectl } from '../support/integration-env.ts';

const root = join(fileURLToPath(import.meta.url), '../../..');
const clients = createKubeClients(adminKubeConfig());
const GROUP = 'agentmachine.sourceos.dev';
const GRANTS = defineResource({ group: GROUP, version: 'v1alpha1', plural: 'toolgrantrecords', kind: 'ToolGrantRecord', namespaced: true });
const PROFILES = defineResource({ group: GROUP, version: 'v1alpha1', plural: 'agentmachineprofiles', kind: 'AgentMachineProfile', namespaced: false });

type Grant = KubernetesObject & { spec: Record<string, unknown>; status?: Record<string, unknown> };

const authority = {
  // The requester itself, so an installed authority admission policy would let it through.
  delegator: LOCAL_ADMIN_USER,
  delegate: 'agent-1',
  scopes: ['agent_machine.tool_grant.apply'],
  expiresAt: '2099-01-01T00:00:00Z',
  purpose: 'operator integration test',
};

let ns = '';
before(async () => {
  await kubectl(['apply', '-k', join(root, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/toolgrantrecords.${GROUP}`, `crd/agentmachineprofiles.${GROUP}`]);
  ns = `op-status-${randomBytes(3).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name: ns } } });
});

async function createGrant(name: string, extra: Record<string, unknown> = {}): Promise<Grant> {
  const body = {
    apiVersion: GRANTS.apiVersion,
    kind: GRANTS.kind,
    metadata: { name, namespace: ns, ...extra },
    spec: { profileRef: { name: 'p' }, tool: 'git', authority },
  };
  // Right after the CRD is Established the apiserver may still answer 404 for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      return await clients.request<Grant>({ method: 'POST', path: GRANTS.apiPath(ns), body });
    } catch (err) {
      if (statusCodeOf(err) !== 404 || attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const getGrant = (name: string) => clients.request<Grant>({ method: 'GET', path: GRANTS.apiPath(ns, name) });

test('status writer: writes through /status with observedGeneration, skips an identical write, removes dropped fields', async () => {
  const grant = await createGrant('g1');
  const writer = new StatusWriter(clients);
  const conditions = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Applied', message: 'grant active' }, 1);
  const status = { state: 'Active', activatedAt: '2025-01-01T00:00:00Z', conditions };

  const first = await writer.write(GRANTS, grant, status);
  assert.equal(first.outcome, 'written');
  assert.ok(first.outcome === 'written');
  const read = await getGrant('g1');
  assert.deepEqual(read.status, { ...status, observedGeneration: 1 });
  assert.equal(read.metadata?.generation, 1, 'a status write does not bump the generation');

  // The reconciler's next pass sees its own write and computes the same status: no request.
  const rvBefore = read.metadata?.resourceVersion;
  const second = await writer.write(GRANTS, read, { ...status, conditions: setCondition(conditions, conditions[0]!, 1) });
  assert.equal(second.outcome, 'unchanged');
  assert.equal((await getGrant('g1')).metadata?.resourceVersion, rvBefore, 'nothing was written');

  // Dropping a field removes it on the server (a merge patch needs an explicit null for that).
  const third = await writer.write(GRANTS, read, { state: 'Active', conditions });
  assert.equal(third.outcome, 'written');
  const after = await getGrant('g1');
  assert.equal(after.status?.activatedAt, undefined);
  assert.equal(after.status?.state, 'Active');
  assert.equal(after.status?.observedGeneration, 1);

  // The spec is untouched by status writes, and status is untouched by spec writes: the
  // subresource is really in use.
  assert.deepEqual(after.spec, grant.spec);
});

test('status writer: an object deleted meanwhile is "gone", not an error', async () => {
  const grant = await createGrant('g2');
  await clients.request({ method: 'DELETE', path: GRANTS.apiPath(ns, 'g2') });
  const result = await new StatusWriter(clients).write(GRANTS, grant, { state: 'Active' });
  assert.equal(result.outcome, 'gone');
});

test('status writer: schema violations are not retried and surface as errors', async () => {
  const grant = await createGrant('g3');
  const writer = new StatusWriter(clients, { maxAttempts: 5 });
  const started = Date.now();
  await assert.rejects(
    writer.write(GRANTS, grant, { conditions: [{ type: 'Ready', status: 'Maybe', reason: 'x', message: '', lastTransitionTime: 'now' }] }),
    (err: unknown) => statusCodeOf(err) === 422,
  );
  assert.ok(Date.now() - started < 2_000, 'a 422 fails at once');
});

test('typed client: patch*Status needs MERGE_PATCH (Content-Type middleware) to send a merge patch', async () => {
  await createGrant('g4');
  const params = { group: GROUP, version: 'v1alpha1', namespace: ns, plural: 'toolgrantrecords', name: 'g4', body: { status: { state: 'Pending' } } };
  // Without it the generated client sends application/json-patch+json, which this body is not.
  await assert.rejects(clients.customObjects.patchNamespacedCustomObjectStatus(params), (err: unknown) => statusCodeOf(err) === 400);
  const patched = (await clients.customObjects.patchNamespacedCustomObjectStatus(params, MERGE_PATCH)) as Grant;
  assert.equal(patched.status?.state, 'Pending');
});

test('finalizers: added and removed without losing foreign ones; a stale copy gets 409', async () => {
  const grant = await createGrant('g5', { finalizers: ['example.com/other'] });
  const added = await ensureFinalizer(clients, GRANTS, grant);
  assert.equal(added.outcome, 'patched');
  assert.ok(added.outcome === 'patched');
  assert.deepEqual(added.object.metadata?.finalizers, ['example.com/other', FINALIZER]);
  assert.equal((await ensureFinalizer(clients, GRANTS, added.object)).outcome, 'unchanged');

  // Someone else edits the object; our copy (grant) is now stale.
  const stale = { ...grant, metadata: { ...grant.metadata, finalizers: ['example.com/other'] } };
  await assert.rejects(ensureFinalizer(clients, GRANTS, stale, 'example.com/third'), (err: unknown) => isConflict(err));
  assert.deepEqual((await getGrant('g5')).metadata?.finalizers, ['example.com/other', FINALIZER], 'nothing was lost');

  // Deletion waits for our finalizer; removing it keeps the other one.
  await clients.request({ method: 'DELETE', path: GRANTS.apiPath(ns, 'g5') });
  const terminating = await getGrant('g5');
  assert.ok(terminating.metadata?.deletionTimestamp);
  assert.ok(hasFinalizer(terminating));
  const removed = await removeFinalizer(clients, GRANTS, terminating);
  assert.ok(removed.outcome === 'patched');
  assert.deepEqual(removed.object.metadata?.finalizers, ['example.com/other']);

  // Removing the last finalizer lets the API server delete the object.
  const last = await removeFinalizer(clients, GRANTS, removed.object, 'example.com/other');
  assert.equal(last.outcome, 'patched');
  await assert.rejects(getGrant('g5'), (err: unknown) => statusCodeOf(err) === 404);
  assert.equal((await removeFinalizer(clients, GRANTS, terminating)).outcome, 'gone', 'the object is gone');
});

test('events: recorded as events.k8s.io/v1 with reporting controller/instance; 1 kB notes; failures do not throw', async () => {
  const grant = await createGrant('g6');
  const recorder = new EventRecorder(clients, { reportingInstance: 'test-instance' });
  const name = await recorder.record(grant, { type: 'Normal', reason: 'GrantApplied', action: 'Apply', note: 'x'.repeat(5000) });
  assert.ok(name);
  const ev = await clients.request<Record<string, any>>({ method: 'GET', path: `/apis/events.k8s.io/v1/namespaces/${ns}/events/${name}` });
  assert.equal(ev.reportingController, REPORTING_CONTROLLER);
  assert.equal(ev.reportingInstance, 'test-instance');
  assert.equal(ev.reason, 'GrantApplied');
  assert.equal(ev.action, 'Apply');
  assert.equal(ev.type, 'Normal');
  assert.equal(ev.regarding.uid, grant.metadata?.uid);
  assert.equal(ev.regarding.kind, 'ToolGrantRecord');
  assert.ok(Buffer.byteLength(ev.note) <= MAX_NOTE_BYTES);
  assert.match(ev.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

  // kubectl shows it too (the core/v1 view of the same event).
  const described = await kubectl(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=g6`, '-o', 'jsonpath={.items[*].reason}']);
  assert.match(described.stdout, /GrantApplied/);

  // Cluster-scoped objects: events land in "default".
  const profile = { apiVersion: PROFILES.apiVersion, kind: PROFILES.kind, metadata: { name: `p-${ns}`, uid: '00000000-0000-0000-0000-000000000001' } };
  const pname = await recorder.record(profile, { type: 'Warning', reason: 'PolicyDenied', action: 'Validate', note: 'denied' });
  assert.ok(pname);
  await clients.request({ method: 'GET', path: `/apis/events.k8s.io/v1/namespaces/default/events/${pname}` });

  // A namespace that does not exist: logged, not thrown.
  const orphan = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: `missing-${ns}` } };
  assert.equal(await recorder.record(orphan, { type: 'Normal', reason: 'X', action: 'Y' }), undefined);
});
