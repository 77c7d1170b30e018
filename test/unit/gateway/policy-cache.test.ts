import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyCache } from '../../../src/gateway/policy-cache.ts';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { binding, grant, profile } from './fixtures.ts';

// The CEL worker this file's evaluations run on: the test file owns it.
const sandbox = new CelSandbox();
after(() => sandbox.close());

test('a verdict is remembered per object version, and follows a new version', () => {
  const cache = new PolicyCache(sandbox);
  const p = profile();
  const b = binding();
  const first = cache.modelUse(p, b, undefined, 'alice');
  assert.equal(cache.modelUse(p, b, undefined, 'alice'), first, 'the same object: not evaluated again');
  assert.notEqual(cache.modelUse(p, b, 'acme', 'alice'), first, 'another tenant is another question');
  assert.notEqual(cache.modelUse(p, b, undefined, 'bob'), first, 'another delegator is another question');
  const changed = { ...b, metadata: { ...b.metadata, resourceVersion: '2' } };
  assert.notEqual(cache.modelUse(p, changed, undefined, 'alice'), first, 'a new binding version is evaluated');

  const g = grant();
  const t = cache.toolUse(p, g, undefined);
  assert.equal(cache.toolUse(p, g, undefined), t);
  assert.equal(typeof cache.toolUse(undefined, g, undefined).allowed, 'boolean', 'no profile: evaluated, never cached');
});
