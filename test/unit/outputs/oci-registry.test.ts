import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_CONFIG, sha256Digest } from '../../../src/outputs/oci-registry.ts';

test('the empty config descriptor is the digest and size of the two bytes {}', () => {
  assert.equal(EMPTY_CONFIG.digest, sha256Digest('{}'));
  assert.equal(EMPTY_CONFIG.size, Buffer.byteLength('{}'));
});
