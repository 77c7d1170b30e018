import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import type { LocalAgentExecution } from '../../../src/api/types.generated.ts';
import { authenticate, presentedToken } from '../../../src/gateway/authenticate.ts';
import { TokenStore, mintToken, tokenSecretFor } from '../../../src/gateway/tokens.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { FakeInformer, NOW, execution } from './fixtures.ts';

test('the token comes from Authorization: Bearer or x-api-key', () => {
  assert.equal(presentedToken({ authorization: 'Bearer amx_a ' }), 'amx_a');
  assert.equal(presentedToken({ authorization: 'bearer amx_b' }), 'amx_b');
  assert.equal(presentedToken({ 'x-api-key': 'amx_c' }), 'amx_c');
  assert.equal(presentedToken({ authorization: 'Basic eDp5' }), undefined);
  assert.equal(presentedToken({ authorization: 'Bearer ' }), undefined);
  assert.equal(presentedToken({}), undefined);
});

test("a token resolves to its running execution; unknown and revoked tokens are 401s that say which", () => {
  const executions = FakeInformer.of<LocalAgentExecution>(execution());
  const secrets = FakeInformer.of<V1Secret>();
  const tokens = new TokenStore({} as KubeClients, secrets);
  const token = mintToken();
  const secret = tokenSecretFor(execution(), token);
  secrets.set(secret);
  const ok = authenticate({ authorization: `Bearer ${token}` }, tokens, executions, NOW);
  assert.ok(ok.ok);
  assert.equal(ok.execution.metadata.name, 'run');
  const none = authenticate({}, tokens, executions, NOW);
  assert.ok(!none.ok);
  assert.equal(none.refusal.status, 401);
  const unknown = authenticate({ 'x-api-key': mintToken() }, tokens, executions, NOW);
  assert.ok(!unknown.ok);
  assert.equal(unknown.refusal.code, 'invalid_token');
  secrets.remove(secret);
  const revoked = authenticate({ authorization: `Bearer ${token}` }, tokens, executions, NOW);
  assert.ok(!revoked.ok);
  assert.equal(revoked.refusal.code, 'token_expired');
});
