// The NetworkPolicy of each network mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECORD_UID_LABEL } from '../../../../src/runtimes/container-runtime.ts';
import type { ContainerRunSpec } from '../../../../src/runtimes/container-runtime.ts';
import { egressRulesFor, networkPolicyFor } from '../../../../src/runtimes/kubernetes/network-policy.ts';

const UID = '3f2a9c1e-7b4d-4e8a-9f00-123456789abc';

function spec(network: ContainerRunSpec['network']): ContainerRunSpec {
  return {
    recordUid: UID,
    recordNamespace: 'team-a',
    recordName: 'hello-agent',
    image: 'img',
    env: {},
    limits: { memoryBytes: 1, cpuMillis: 1, pidsLimit: 1, scratchBytes: 1 },
    network,
    outputs: [],
  };
}

const GATEWAY = { namespace: 'am-system', podSelector: { app: 'gateway' }, port: 8443 };
const GATEWAY_RULE = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'am-system' } }, podSelector: { matchLabels: { app: 'gateway' } } }],
  ports: [{ protocol: 'TCP', port: 8443 }],
};
const DNS_RULE = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
};

test('every policy selects exactly the record pod, by UID, and denies ingress', () => {
  for (const mode of ['none', 'gateway-only', 'allowlist', 'open'] as const) {
    const np = networkPolicyFor(spec({ mode, egressAllowlist: ['example.com'] }), { gateway: GATEWAY });
    assert.equal(np.metadata?.name, 'am-hello-agent-3f2a9c1e', mode);
    assert.equal(np.metadata?.namespace, 'team-a');
    assert.deepEqual(np.spec?.podSelector, { matchLabels: { [RECORD_UID_LABEL]: UID } });
    assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
    assert.equal(np.spec?.ingress, undefined, `${mode}: no ingress rule = deny all ingress`);
  }
});

test('none: the gateway pods only, not even DNS', () => {
  const np = networkPolicyFor(spec({ mode: 'none' }), { gateway: GATEWAY });
  assert.deepEqual(np.spec?.egress, [GATEWAY_RULE]);
});

test('gateway-only: the gateway pods on their port, plus DNS', () => {
  assert.deepEqual(egressRulesFor({ mode: 'gateway-only' }, { gateway: GATEWAY }), [GATEWAY_RULE, DNS_RULE]);
});

test('gateway defaults, no port, custom DNS, and DNS switched off', () => {
  const rules = egressRulesFor({ mode: 'gateway-only' }, { dns: { namespace: 'dns', podSelector: { 'k8s-app': 'kube-dns' } } });
  assert.deepEqual(rules[0], {
    to: [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'agent-machine-system' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'agent-machine' } },
      },
    ],
  });
  assert.deepEqual(rules[1]?.to, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
  assert.deepEqual(egressRulesFor({ mode: 'gateway-only' }, { gateway: GATEWAY, dns: false }), [GATEWAY_RULE]);
});

test('allowlist: the gateway and DNS only; hosts, IP literals and the corporate proxy are the egress proxy\'s business', () => {
  const rules = egressRulesFor({ mode: 'allowlist', proxy: 'http://10.0.0.9:3128', egressAllowlist: ['api.example.com', '192.168.1.10', '192.168.1.11:8443'] }, { gateway: GATEWAY });
  assert.deepEqual(rules, [GATEWAY_RULE, DNS_RULE]);
});

test('open: one empty egress rule (allow all egress), ingress still denied', () => {
  const np = networkPolicyFor(spec({ mode: 'open' }));
  assert.deepEqual(np.spec?.egress, [{}]);
  assert.deepEqual(np.spec?.policyTypes, ['Ingress', 'Egress']);
});

test('an unknown mode fails instead of falling open', () => {
  assert.throws(() => egressRulesFor({ mode: 'wide-open' as never }), /unknown network mode/);
});

test('owner reference is carried', () => {
  const owner = { apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u', controller: true };
  assert.deepEqual(networkPolicyFor(spec({ mode: 'none' }), { owner }).metadata?.ownerReferences, [owner]);
});

