import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grantPermissions } from '../../../src/reconcilers/tool-grant-reconciler.ts';
import { grant } from '../gateway/fixtures.ts';

test('a grant asks use on its profile and grant on its tool; a connector with a credential also get on that Secret', () => {
  const plain = grant();
  assert.deepEqual(grantPermissions(plain).map((p) => `${p.verb} ${p.resource}/${p.name} ${p.namespace ?? ''}`), ['use agentmachineprofiles/local ', 'grant tools/mcp.github/create_issue ns']);
  const connected = grant({ connector: { endpoint: 'https://api.github.com', protocol: 'http', credentialsSecretRef: { name: 'gh-token', key: 'token' } } });
  const secret = grantPermissions(connected).at(-1)!;
  assert.deepEqual(secret, { verb: 'get', group: '', resource: 'secrets', name: 'gh-token', namespace: 'ns' });
  assert.equal(grantPermissions(grant({ connector: { endpoint: 'http://127.0.0.1:1/mcp', protocol: 'mcp' } })).length, 2, 'no credential, no Secret to read');
});
