// The reviewer against a stand-in for the API client: what is under test is how answers and
// failures become decisions (fail closed). The real API server path is an integration test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1SubjectAccessReview } from '@kubernetes/client-node';
import {
  AccessReviewer,
  buildSubjectAccessReview,
  describeMissingPermission,
  impliedGroups,
  permissions,
  type AccessRequest,
  type SubjectAccessReviewApi,
} from '../../../src/governance/access-review.ts';

const grant: AccessRequest = { user: 'alice', ...permissions.grantTool('mcp.github/create_issue') };
delete (grant as { namespace?: string }).namespace;

function api(answer: (body: V1SubjectAccessReview) => Promise<V1SubjectAccessReview>): SubjectAccessReviewApi & { seen: V1SubjectAccessReview[] } {
  const seen: V1SubjectAccessReview[] = [];
  return {
    seen,
    createSubjectAccessReview: ({ body }) => {
      seen.push(body);
      return answer(body);
    },
  };
}

const answering = (status: V1SubjectAccessReview['status']) => api(async (body) => ({ ...body, status }));

test('describeMissingPermission reads like the condition message', () => {
  assert.equal(describeMissingPermission(grant), 'user "alice" may not grant tools "mcp.github/create_issue" (agentmachine.sourceos.dev)');
  assert.equal(
    describeMissingPermission({ user: 'bob', ...permissions.bindModelProvider('ollama', 'team-a') }),
    'user "bob" may not bind modelproviderbindings "ollama" in namespace "team-a" (agentmachine.sourceos.dev)',
  );
});

test('the virtual permissions are use/grant/bind/export in agentmachine.sourceos.dev', () => {
  assert.deepEqual(permissions.useProfile('corp'), { verb: 'use', group: 'agentmachine.sourceos.dev', resource: 'agentmachineprofiles', name: 'corp', namespace: undefined });
  assert.equal(permissions.grantTool('x').verb, 'grant');
  assert.equal(permissions.grantTool('x').resource, 'tools');
  assert.equal(permissions.bindModelProvider('b', 'ns').verb, 'bind');
  assert.equal(permissions.exportDiagnostics('d', 'ns').resource, 'agentmachinediagnosticbundles');
  assert.equal(permissions.exportDiagnostics('d', 'ns').verb, 'export');
});

test('the review asks about the user, its implied groups and the resource', () => {
  const body = buildSubjectAccessReview({ ...grant, groups: ['devs'] });
  assert.equal(body.kind, 'SubjectAccessReview');
  assert.equal(body.spec.user, 'alice');
  assert.deepEqual(body.spec.groups, ['devs', 'system:authenticated']);
  assert.deepEqual(body.spec.resourceAttributes, { verb: 'grant', group: 'agentmachine.sourceos.dev', resource: 'tools', name: 'mcp.github/create_issue' });
});

test('service accounts get the groups Kubernetes derives from their name', () => {
  assert.deepEqual(impliedGroups('system:serviceaccount:flux-system:kustomize-controller'), [
    'system:serviceaccounts',
    'system:serviceaccounts:flux-system',
    'system:authenticated',
  ]);
  assert.deepEqual(impliedGroups('system:anonymous'), ['system:unauthenticated']);
});

test('an explicit allowed answer allows', async () => {
  const client = answering({ allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "grant-tools"' });
  const result = await new AccessReviewer(client).review(grant);
  assert.equal(result.allowed, true);
  assert.match(result.reason, /grant-tools/);
  assert.equal(client.seen.length, 1);
});

test('a denial names the missing permission and says groups were not checked', async () => {
  const result = await new AccessReviewer(answering({ allowed: false, reason: '' })).review(grant);
  assert.equal(result.allowed, false);
  assert.match(result.reason, /^user "alice" may not grant tools "mcp.github\/create_issue" \(agentmachine.sourceos.dev\)/);
  assert.match(result.reason, /records no groups/);
});

test('with groups given, the denial does not claim they were unknown', async () => {
  const result = await new AccessReviewer(answering({ allowed: false })).review({ ...grant, groups: ['devs'] });
  assert.equal(result.allowed, false);
  assert.doesNotMatch(result.reason, /records no groups/);
});

test('allowed together with denied, or no status at all, is a denial', async () => {
  assert.equal((await new AccessReviewer(answering({ allowed: true, denied: true })).review(grant)).allowed, false);
  const noStatus = await new AccessReviewer(api(async (body) => body)).review(grant);
  assert.equal(noStatus.allowed, false);
  assert.match(noStatus.reason, /no status/);
});

test('an API error fails closed with "access review failed"', async () => {
  const result = await new AccessReviewer(api(async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443\nstack...')))).review(grant);
  assert.equal(result.allowed, false);
  assert.match(result.reason, /^access review failed: connect ECONNREFUSED 127\.0\.0\.1:6443;/);
  assert.doesNotMatch(result.reason, /stack/);
});

test('a client that throws synchronously also fails closed', async () => {
  const client: SubjectAccessReviewApi = {
    createSubjectAccessReview: () => {
      throw new TypeError('boom');
    },
  };
  const result = await new AccessReviewer(client).review(grant);
  assert.equal(result.allowed, false);
  assert.match(result.reason, /access review failed: boom/);
});

test('an API server that never answers fails closed after the timeout', async () => {
  const started = performance.now();
  const result = await new AccessReviewer(api(() => new Promise(() => {})), { timeoutMs: 50 }).review(grant);
  assert.equal(result.allowed, false);
  assert.match(result.reason, /no answer within 50ms/);
  assert.ok(performance.now() - started < 1000);
});

test('one request for a question asked many times at once; allows are remembered, denials are not', async () => {
  let clock = 0;
  let allow = true;
  const calls = api(async (body) => {
    await new Promise((r) => setTimeout(r, 5));
    return { ...body, status: { allowed: allow } };
  });
  const reviewer = new AccessReviewer(calls, { cache: { ttlMs: 1_000, now: () => clock } });
  const answers = await Promise.all(Array.from({ length: 50 }, () => reviewer.review(grant)));
  assert.equal(calls.seen.length, 1, 'fifty concurrent identical questions cost one review');
  assert.ok(answers.every((a) => a.allowed));
  await reviewer.review(grant);
  assert.equal(calls.seen.length, 1, 'an allow within its TTL is remembered');
  await reviewer.review({ ...grant, name: 'other/tool' });
  assert.equal(calls.seen.length, 2, 'a different question is asked');

  clock = 1_000;
  allow = false; // the RoleBinding was removed
  assert.equal((await reviewer.review(grant)).allowed, false, 'after the TTL the API server is asked again');
  assert.equal(calls.seen.length, 3);
  allow = true; // and granted again
  assert.equal((await reviewer.review(grant)).allowed, true, 'a denial is not remembered');
  assert.equal(calls.seen.length, 4);
});

test('an unanswered review is not remembered: the next question asks again', async () => {
  let fail = true;
  const calls = api(async (body) => {
    if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return { ...body, status: { allowed: true } };
  });
  const reviewer = new AccessReviewer(calls);
  assert.equal((await reviewer.review(grant)).unavailable, true);
  fail = false;
  assert.equal((await reviewer.review(grant)).allowed, true);
  assert.equal(calls.seen.length, 2);
});
