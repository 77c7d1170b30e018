// Requests are counted by verb and resource, once per request, for every client of a KubeConfig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { countRequests, requestLabels, type RequestLabels } from '../../../src/operator/request-counting.ts';

test('verb and resource from method and path, as the API server names them', () => {
  const cases: Array<[string, string, RequestLabels]> = [
    ['POST', 'https://h/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/ns/localagentexecutions', { verb: 'create', resource: 'localagentexecutions' }],
    ['PATCH', 'https://h/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/ns/localagentexecutions/x/status', { verb: 'patch', resource: 'localagentexecutions/status' }],
    ['GET', 'https://h/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/ns/localagentexecutions/x', { verb: 'get', resource: 'localagentexecutions' }],
    ['GET', 'https://h/apis/agentmachine.sourceos.dev/v1alpha1/toolgrantrecords?limit=500', { verb: 'list', resource: 'toolgrantrecords' }],
    ['GET', 'https://h/apis/agentmachine.sourceos.dev/v1alpha1/toolgrantrecords?watch=true&resourceVersion=5', { verb: 'watch', resource: 'toolgrantrecords' }],
    ['POST', 'https://h/apis/authorization.k8s.io/v1/subjectaccessreviews', { verb: 'create', resource: 'subjectaccessreviews' }],
    ['POST', 'https://h/apis/events.k8s.io/v1/namespaces/ns/events', { verb: 'create', resource: 'events' }],
    ['PUT', 'https://h/apis/coordination.k8s.io/v1/namespaces/ns/leases/l', { verb: 'update', resource: 'leases' }],
    ['DELETE', 'https://h/api/v1/namespaces/ns/secrets/s', { verb: 'delete', resource: 'secrets' }],
    ['DELETE', 'https://h/api/v1/namespaces/ns/configmaps?labelSelector=a', { verb: 'deletecollection', resource: 'configmaps' }],
    ['GET', 'https://h/api/v1/namespaces/ns', { verb: 'get', resource: 'namespaces' }],
    ['GET', 'https://h/api/v1/namespaces', { verb: 'list', resource: 'namespaces' }],
    ['GET', 'https://h/api/v1/namespaces/ns/pods/p/log?container=a', { verb: 'get', resource: 'pods/log' }],
    ['GET', 'https://h/version', { verb: 'get', resource: 'other' }],
    ['GET', 'https://h/apis', { verb: 'get', resource: 'other' }],
  ];
  for (const [method, url, want] of cases) assert.deepEqual(requestLabels(method, url), want, `${method} ${url}`);
});

test('every request through the KubeConfig is counted once, also when counting is set up twice', async () => {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }, { name: 'u', token: 't' });
  const seen: RequestLabels[] = [];
  countRequests(kc, (l) => seen.push(l));
  countRequests(kc, (l) => seen.push(l));
  for (const [url, method] of [
    ['https://127.0.0.1:6443/api/v1/namespaces/ns/secrets/s', HttpMethod.GET],
    ['https://127.0.0.1:6443/apis/authorization.k8s.io/v1/subjectaccessreviews', HttpMethod.POST],
  ] as const) {
    const ctx = new RequestContext(url, method);
    await kc.applySecurityAuthentication(ctx);
    // Authentication still applied.
    assert.equal(ctx.getHeaders().Authorization, 'Bearer t');
  }
  assert.deepEqual(seen, [
    { verb: 'get', resource: 'secrets' },
    { verb: 'create', resource: 'subjectaccessreviews' },
  ]);
});

test('a failing counter never fails the request', async () => {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }, { name: 'u', token: 't' });
  countRequests(kc, () => {
    throw new Error('boom');
  });
  const ctx = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  assert.equal(ctx.getHeaders().Authorization, 'Bearer t');
});
