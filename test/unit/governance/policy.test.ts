import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatePolicy } from '../../../src/governance/policy.ts';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { containerRequests, modelProviderUseRequest, toolGrantRequest } from '../../../src/governance/requests.ts';
import type { PolicyRequest } from '../../../src/governance/requests.ts';
import { authority, profile } from './fixtures.ts';

// The CEL worker this file's evaluations run on: the test file owns it.
const sandbox = new CelSandbox();
after(() => sandbox.close());

const corp = profile('corporate_firewall', {
  images: { allowedRegistries: ['ghcr.io/acme'] },
  rules: [{ name: 'no-latest', gate: 'containerExecution', expression: '!request.image.endsWith(":latest")', message: 'no :latest images' }],
});

test('no profile: denied with profile.missing', () => {
  const result = evaluatePolicy(undefined, { gate: 'toolGrant', tool: 'fs.read' }, { sandbox });
  assert.equal(result.allowed, false);
  assert.deepEqual(result.decisions.map((d) => [d.gate, d.rule]), [['toolGrant', 'profile.missing']]);
});

test('built-in and CEL decisions are combined; all must allow', () => {
  const ok = evaluatePolicy(corp, { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1' }, { sandbox });
  assert.equal(ok.allowed, true);
  assert.ok(ok.decisions.some((d) => d.rule === 'builtin.images.registry-allowlist'));
  assert.ok(ok.decisions.some((d) => d.rule === 'cel.no-latest'));

  const cel = evaluatePolicy(corp, { gate: 'containerExecution', image: 'ghcr.io/acme/agent:latest' }, { sandbox });
  assert.equal(cel.allowed, false);
  assert.deepEqual(cel.decisions.filter((d) => !d.allowed).map((d) => d.rule), ['cel.no-latest']);

  const builtin = evaluatePolicy(corp, { gate: 'containerExecution', image: 'docker.io/library/alpine:3' }, { sandbox });
  assert.equal(builtin.allowed, false);
  assert.deepEqual(builtin.decisions.filter((d) => !d.allowed).map((d) => d.rule), ['builtin.images.registry-allowlist']);
});

test('an unknown gate is denied rather than allowed by an empty list', () => {
  const result = evaluatePolicy(corp, { gate: 'teleport' } as unknown as PolicyRequest, { sandbox });
  assert.equal(result.allowed, false);
  assert.equal(result.decisions[0]?.rule, 'policy.gate');
});

test('requests built from specs carry env names but never env values', () => {
  const [exec, artifacts, network] = containerRequests(
    {
      image: 'ghcr.io/acme/agent:1',
      env: [
        { name: 'API_KEY', value: 'sk-live-secret' },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      ],
      workspace: { hostPath: '/srv/repo' },
      outputs: [{ name: 'report', path: '/workspace/out/report' }],
    },
    'acme',
  );
  assert.ok(!JSON.stringify(exec).includes('sk-live-secret'));
  assert.deepEqual(exec, { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1', envNames: ['API_KEY', 'TOKEN'], secretEnvNames: ['TOKEN'], tenant: 'acme' });
  assert.deepEqual(artifacts, { gate: 'artifactAccess', hostPath: '/srv/repo', mountPath: '/workspace', outputs: ['/workspace/out/report'], tenant: 'acme' });
  assert.deepEqual(network, { gate: 'networkProfile' });
  for (const request of [artifacts!, network!]) assert.equal(evaluatePolicy(corp, request, { sandbox }).allowed, true, request.gate);
  // A firewall profile keeps Secrets out of the environment unless it names them (spec.secretEnv).
  const secretEnv = evaluatePolicy(corp, exec!, { sandbox });
  assert.deepEqual(secretEnv.decisions.filter((d) => !d.allowed).map((d) => d.rule), ['builtin.credentials.secret-env']);
  assert.equal(evaluatePolicy({ ...corp, spec: { ...corp.spec, secretEnv: ['TOKEN'] } }, exec!, { sandbox }).allowed, true);
});

test('the network mode an execution asks for reaches the networkProfile gate', () => {
  const network = (mode?: 'none' | 'open') => containerRequests({ image: 'ghcr.io/acme/agent:1' }, undefined, undefined, mode)[2]!;
  assert.deepEqual(network('none'), { gate: 'networkProfile', requestedMode: 'none' });
  assert.equal(evaluatePolicy(corp, network('none'), { sandbox }).allowed, true);
  const wider = evaluatePolicy(corp, network('open'), { sandbox });
  assert.equal(wider.allowed, false);
  assert.ok(wider.decisions.some((d) => !d.allowed && d.rule === 'builtin.network.requested-within-profile'));
});

test('binding and grant specs become policy requests', () => {
  const binding = modelProviderUseRequest({
    profileRef: { name: 'p' },
    provider: 'ollama',
    endpoint: 'http://127.0.0.1:11434',
    model: 'llama3',
    owner: 'bob',
    authority: authority(),
    tenant: 'acme',
  });
  assert.deepEqual(binding, {
    gate: 'modelProviderUse',
    endpoint: 'http://127.0.0.1:11434',
    provider: 'ollama',
    model: 'llama3',
    hasCredential: false,
    owner: 'bob',
    delegator: 'alice',
    bindingTenant: 'acme',
  });
  assert.equal(evaluatePolicy(profile('user_owned_model'), binding, { sandbox }).allowed, false, 'bob is not the delegator alice');
  const grant = toolGrantRequest({ profileRef: { name: 'p' }, tool: 'web.search', authority: authority(), tenant: 'acme' }, 'globex');
  assert.deepEqual(grant, { gate: 'toolGrant', tool: 'web.search', grantTenant: 'acme', tenant: 'globex' });
  assert.equal(evaluatePolicy(profile('multi_corporate_firewall', { tenants: ['acme', 'globex'] }), grant, { sandbox }).allowed, false);
});

test('no profile type lets a binding point at a link-local or cloud metadata address', () => {
  const types = ['personal', 'local_model_provider', 'hosted_model_provider', 'user_owned_model', 'corporate_firewall', 'multi_corporate_firewall', 'airgapped_local_only'] as const;
  for (const type of types) {
    const p = profile(type, { modelProviders: { allowedHosts: ['169.254.169.254', 'metadata.google.internal'] } } as never);
    for (const endpoint of ['http://169.254.169.254/latest', 'http://metadata.google.internal']) {
      const result = evaluatePolicy(p, { gate: 'modelProviderUse', endpoint, provider: 'openai', model: 'm', hasCredential: false, delegator: 'alice' } as PolicyRequest, { sandbox });
      const rule = result.decisions.find((d) => d.rule === 'builtin.model.endpoint-url');
      assert.equal(rule?.allowed, false, `${type} ${endpoint}`);
      assert.match(rule!.message, /link-local or cloud metadata/);
    }
  }
});
