// A check that got no answer (API server away) is not a decision: the Authorizer throws, so the
// reconcile is retried instead of denying for good; "not installed" and RBAC denials still decide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { AdmissionGuard } from '../../../src/reconcilers/admission-guard.ts';
import { AuthorizationUnavailableError, Authorizer } from '../../../src/reconcilers/authorization.ts';
import { AccessReviewer, type SubjectAccessReviewApi } from '../../../src/governance/access-review.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { NamespaceTenants } from '../../../src/reconcilers/namespace-tenants.ts';

const policy = { spec: { failurePolicy: 'Fail' } };
const binding = { spec: { policyName: 'agent-machine-delegator-is-requester', validationActions: ['Deny'] } };
const networkError = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

function guardAnswering(answers: Array<'ok' | 'down' | 'missing'>) {
  let calls = 0;
  const next = async (what: object) => {
    const a = answers[Math.min(calls++, answers.length - 1)];
    if (a === 'down') throw networkError();
    if (a === 'missing') throw new ApiException(404, 'not found', {}, {});
    return what;
  };
  const clients = {
    admissionRegistration: {
      readValidatingAdmissionPolicy: () => next(policy),
      readValidatingAdmissionPolicyBinding: async () => binding,
    },
  } as unknown as KubeClients;
  return new AdmissionGuard(clients);
}

const reviewer = (allowed: boolean | 'down'): AccessReviewer =>
  new AccessReviewer({
    createSubjectAccessReview: async ({ body }) => {
      if (allowed === 'down') throw networkError();
      return { ...body, status: { allowed } };
    },
  } as SubjectAccessReviewApi);

/** Namespaces and their tenant labels; 'down' answers like an unreachable API server. */
const tenants = (labels: Record<string, Record<string, string> | 'down'> = {}) =>
  new NamespaceTenants({
    core: {
      readNamespace: async ({ name }: { name: string }) => {
        const l = labels[name];
        if (l === 'down') throw networkError();
        if (l === undefined) throw new ApiException(404, 'not found', {}, {});
        return { metadata: { name, labels: l } };
      },
    },
  } as unknown as KubeClients);

const request = {
  authority: { delegator: 'alice', delegate: 'agent:t', scopes: ['agent_machine.execution.start'], expiresAt: '2030-01-01T00:00:00Z', purpose: 't' },
  operationType: 'agent_machine.execution.start' as const,
  permissions: [{ verb: 'use', group: 'agentmachine.sourceos.dev', resource: 'agentmachineprofiles', name: 'p' }],
  now: new Date('2026-01-01T00:00:00Z'),
};


/** The ValidatingAdmissionPolicy the project ships (manifests/admission/delegator-policy.yaml). */
async function shippedPolicy(): Promise<{ spec: { validations: Array<{ expression: string }> } }> {
  const { parseAllDocuments } = await import('yaml');
  const { readFileSync } = await import('node:fs');
  return parseAllDocuments(readFileSync(new URL('../../../manifests/admission/delegator-policy.yaml', import.meta.url), 'utf8'))
    .map((d) => d.toJS())
    .find((d) => d?.kind === 'ValidatingAdmissionPolicy');
}

/** An admission guard that reads policySpec as the installed policy. */
function guardWith(policySpec: object): AdmissionGuard {
  return new AdmissionGuard({
    admissionRegistration: {
      readValidatingAdmissionPolicy: async () => ({ spec: policySpec }),
      readValidatingAdmissionPolicyBinding: async () => binding,
    },
  } as unknown as KubeClients);
}

test('an unreachable API server (policy check or access review) throws instead of denying', async () => {
  await assert.rejects(new Authorizer(guardAnswering(['down']), reviewer(true), tenants()).authorize(request), AuthorizationUnavailableError);
  await assert.rejects(new Authorizer(guardAnswering(['ok']), reviewer('down'), tenants()).authorize(request), AuthorizationUnavailableError);
});

test('"not installed" and an RBAC "no" are decisions', async () => {
  const unverifiable = await new Authorizer(guardAnswering(['missing']), reviewer(true), tenants()).authorize(request);
  assert.equal(unverifiable.allowed, false);
  assert.equal(unverifiable.reason, 'AuthorityUnverifiable');
  const denied = await new Authorizer(guardAnswering(['ok']), reviewer(false), tenants()).authorize(request);
  assert.equal(denied.allowed, false);
  assert.equal(denied.reason, 'PermissionDenied');
  assert.equal((await new Authorizer(guardAnswering(['ok']), reviewer(true), tenants()).authorize(request)).allowed, true);
});

test('the guard does not remember an unanswered check: the next call asks again', async () => {
  const guard = guardAnswering(['down', 'ok']);
  assert.equal((await guard.check()).unavailable, true);
  const second = await guard.check();
  assert.equal(second.ok, true, second.message);
});

test("recorded groups reach the access review only while the shipped policy vouches for them", async () => {
  const shipped = await shippedPolicy();
  const asked: Array<string[] | undefined> = [];
  const recording = new AccessReviewer({
    createSubjectAccessReview: async ({ body }) => {
      asked.push(body.spec?.groups);
      return { ...body, status: { allowed: true } };
    },
  } as SubjectAccessReviewApi);
  const withGroups = { ...request, authority: { ...request.authority, groups: ['ml-team'] } };

  assert.equal((await new Authorizer(guardWith(shipped.spec), recording, tenants()).authorize(withGroups)).allowed, true);
  assert.deepEqual(asked.pop(), ['ml-team', 'system:authenticated'], 'the shipped policy checks spec.authority.groups');

  // An older policy that does not check the groups: a claimed group is not counted.
  await new Authorizer(guardWith({ ...shipped.spec, validations: shipped.spec.validations.filter((v: { expression: string }) => !v.expression.includes('authority.groups')) }), recording, tenants()).authorize(withGroups);
  assert.deepEqual(asked.pop(), ['system:authenticated']);
});

test('a namespaced object claims its namespace\'s tenant, read from the namespace, before any access review', async () => {
  let reviews = 0;
  const counting = new AccessReviewer({
    createSubjectAccessReview: async ({ body }) => {
      reviews++;
      return { ...body, status: { allowed: true } };
    },
  } as SubjectAccessReviewApi);
  const ns = tenants({ a: { 'agentmachine.sourceos.dev/tenant': 'acme' }, plain: {}, gone: 'down' });
  const authorizer = new Authorizer(guardAnswering(['ok']), counting, ns);
  const claim = (namespace: string, tenant: string | undefined) => authorizer.authorize({ ...request, tenancy: { namespace, tenant } });

  const other = await claim('a', 'globex');
  assert.equal(other.allowed, false);
  assert.equal(other.reason, 'TenantMismatch');
  assert.match(other.message, /spec\.tenant globex is not the tenant of namespace a, which belongs to tenant acme/);
  assert.equal((await claim('a', undefined)).reason, 'TenantMismatch', 'a tenant namespace\'s objects must carry it');
  assert.match((await claim('plain', 'acme')).message, /has no agentmachine\.sourceos\.dev\/tenant label/);
  assert.equal((await claim('missing', undefined)).reason, 'TenantMismatch', 'a namespace that cannot be found fails closed');
  assert.equal(reviews, 0, 'no access review for a refused tenant');
  assert.equal((await claim('a', 'acme')).allowed, true);
  assert.equal((await claim('plain', undefined)).allowed, true);
  await assert.rejects(claim('gone', 'acme'), AuthorizationUnavailableError, 'no answer decides nothing');
});

test('a reviewer counts only while the shipped policy proves who wrote the review, and only with the review verb on containerexecutionrecords/outputs', async () => {
  const shipped = await shippedPolicy();
  const asked: object[] = [];
  const answering = (allowed: boolean) =>
    new AccessReviewer({
      createSubjectAccessReview: async ({ body }) => {
        asked.push(body.spec!);
        return { ...body, status: { allowed } };
      },
    } as SubjectAccessReviewApi);

  const ok = await new Authorizer(guardWith(shipped.spec), answering(true), tenants()).authorizeReviewer('bob', 'run-agent', 'team');
  assert.deepEqual([ok.allowed, ok.reason], [true, 'ReviewerAuthorized']);
  assert.deepEqual(asked.pop(), { user: 'bob', groups: ['system:authenticated'], resourceAttributes: { verb: 'review', group: 'agentmachine.sourceos.dev', resource: 'containerexecutionrecords', subresource: 'outputs', name: 'run-agent', namespace: 'team' } });

  const no = await new Authorizer(guardWith(shipped.spec), answering(false), tenants()).authorizeReviewer('carol', 'run-agent', 'team');
  assert.deepEqual([no.allowed, no.reason], [false, 'ReviewPermissionDenied']);
  assert.match(no.message, /user "carol" may not review containerexecutionrecords\/outputs "run-agent" in namespace "team"/);
  asked.length = 0;

  // A policy without the reviewer check would let anyone sign as anyone: no review counts, nothing is asked.
  const older = { ...shipped.spec, validations: shipped.spec.validations.filter((v: { expression: string }) => !v.expression.includes('request.userInfo.username') || !v.expression.includes('variables.reviewerNow')) };
  const unverified = await new Authorizer(guardWith(older), answering(true), tenants()).authorizeReviewer('bob', 'run-agent', 'team');
  assert.deepEqual([unverified.allowed, unverified.reason], [false, 'ReviewUnverifiable']);
  assert.match(unverified.message, /does not check who writes output reviews/);
  assert.equal(asked.length, 0);

  await assert.rejects(new Authorizer(guardWith(shipped.spec), reviewer('down'), tenants()).authorizeReviewer('bob', 'run-agent', 'team'), AuthorizationUnavailableError);
});

test('allowsFromMemory: true only once authorize() has left every answer remembered and allowing; a denial, an unknown question or another tenant is false (ask authorize)', async () => {
  const withTenancy = { ...request, tenancy: { namespace: 'team', tenant: undefined } };
  const allowing = new Authorizer(guardAnswering(['ok']), reviewer(true), tenants({ team: {} }));
  assert.equal(allowing.allowsFromMemory(withTenancy), false, 'nothing remembered yet');
  assert.equal((await allowing.authorize(withTenancy)).allowed, true);
  assert.equal(allowing.allowsFromMemory(withTenancy), true);
  const another = { ...withTenancy, permissions: [...withTenancy.permissions, { verb: 'grant', group: 'agentmachine.sourceos.dev', resource: 'tools', name: 'x' }] };
  assert.equal(allowing.allowsFromMemory(another), false, 'a permission never asked');
  assert.equal(allowing.allowsFromMemory({ ...withTenancy, tenancy: { namespace: 'team', tenant: 'acme' } }), false, 'a tenant the namespace does not carry');
  assert.equal(allowing.allowsFromMemory({ ...withTenancy, now: new Date('2031-01-01T00:00:00Z') }), false, 'an expired delegation');
  const denying = new Authorizer(guardAnswering(['ok']), reviewer(false), tenants({ team: {} }));
  assert.equal((await denying.authorize(withTenancy)).allowed, false);
  assert.equal(denying.allowsFromMemory(withTenancy), false, 'denials are never remembered');
});
