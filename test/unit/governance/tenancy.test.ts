import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TENANT_LABEL, tenantDecision, tenantOfLabels } from '../../../src/governance/tenancy.ts';

test("an object's tenant is its namespace's label; an unlabelled namespace's objects claim none", () => {
  assert.equal(TENANT_LABEL, 'agentmachine.sourceos.dev/tenant');
  assert.equal(tenantOfLabels({ [TENANT_LABEL]: 'acme' }), 'acme');
  assert.equal(tenantOfLabels({ [TENANT_LABEL]: '' }), undefined, 'an empty label names no tenant');
  assert.equal(tenantOfLabels(undefined), undefined);

  const acme = { found: true as const, tenant: 'acme' };
  const plain = { found: true as const, tenant: undefined };
  assert.equal(tenantDecision('a', 'acme', acme).allowed, true);
  assert.equal(tenantDecision('p', undefined, plain).allowed, true);
  const cases: Array<[string | undefined, typeof acme | typeof plain, RegExp]> = [
    ['globex', acme, /spec\.tenant globex is not the tenant of namespace n, which belongs to tenant acme/],
    [undefined, acme, /belongs to tenant acme .*must say spec\.tenant: acme/],
    ['acme', plain, /no agentmachine\.sourceos\.dev\/tenant label, so its objects may claim no tenant/],
  ];
  for (const [claimed, ns, message] of cases) {
    const d = tenantDecision('n', claimed, ns);
    assert.equal(d.allowed, false, `${claimed} in ${ns.tenant}`);
    assert.equal(d.rule, 'tenancy.namespace-label');
    assert.match(d.message, message);
  }
  assert.match(tenantDecision('n', undefined, { found: false, unavailable: false, message: 'the namespace does not exist' }).message, /cannot be read: the namespace does not exist/);
});
