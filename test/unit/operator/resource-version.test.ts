import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNewerResourceVersion } from '../../../src/operator/resource-version.ts';

test('resourceVersions compare as decimal integers, anything else is never newer', () => {
  assert.equal(isNewerResourceVersion('11', '9'), true);
  assert.equal(isNewerResourceVersion('9', '11'), false);
  assert.equal(isNewerResourceVersion('9', '9'), false);
  assert.equal(isNewerResourceVersion('123456789012345678901', '123456789012345678900'), true);
  assert.equal(isNewerResourceVersion('abc', '1'), false);
  assert.equal(isNewerResourceVersion(undefined, '1'), false);
});
