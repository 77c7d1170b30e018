import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorityLoss, onAuthorityLost } from '../../../src/governance/authority-loss.ts';
import { NOW, binding, execution, grant } from '../gateway/fixtures.ts';

test('onAuthorityLost: firewall profiles cancel by default, the others deny calls; the profile may choose', () => {
  assert.equal(onAuthorityLost({ profileType: 'corporate_firewall' }), 'cancel');
  assert.equal(onAuthorityLost({ profileType: 'multi_corporate_firewall' }), 'cancel');
  for (const t of ['personal', 'local_model_provider', 'hosted_model_provider', 'airgapped_local_only', 'user_owned_model'] as const) assert.equal(onAuthorityLost({ profileType: t }), 'deny-calls', t);
  assert.equal(onAuthorityLost({ profileType: 'personal', onAuthorityLost: 'cancel' }), 'cancel');
  assert.equal(onAuthorityLost({ profileType: 'corporate_firewall', onAuthorityLost: 'deny-calls' }), 'deny-calls');
});

test('authorityLoss: delegation expired, grant revoked/expired/deleted/other delegate, binding deleted; nothing lost otherwise', () => {
  const ex = execution({ tools: ['mcp.github/create_issue'] });
  const loss = (grants: any[], b: any = binding(), e = ex) => authorityLoss(e, NOW, () => grants, b === null ? undefined : b);
  assert.equal(loss([grant()]), undefined);
  assert.deepEqual(loss([grant({ revoked: true })]), { lost: 'grant', message: 'the ToolGrantRecord granting mcp.github/create_issue to agent:x was lost: g1 revoked' });
  assert.match(loss([grant({ authority: { ...grant().spec.authority, expiresAt: '2026-05-31T00:00:00Z' } })])!.message, /g1 expired at 2026-05-31T00:00:00Z/);
  assert.match(loss([])!.message, /lost: deleted/);
  assert.match(loss([grant({ authority: { ...grant().spec.authority, delegate: 'agent:other' } })])!.message, /lost: deleted/, "another delegate's grant does not serve");
  const deleting = binding();
  deleting.metadata.deletionTimestamp = NOW;
  assert.deepEqual(loss([grant()], null), { lost: 'binding', message: 'ModelProviderBinding llm was deleted' });
  assert.equal(loss([grant()], deleting)?.lost, 'binding');
  const expired = execution({ tools: [], authority: { ...ex.spec.authority, expiresAt: '2026-05-31T00:00:00Z' } });
  assert.equal(loss([], binding(), expired)?.lost, 'delegation');
  assert.equal(loss([], binding(), execution({ tools: [], modelProviderRef: undefined })), undefined, 'no tools, no binding: nothing to lose');
});
