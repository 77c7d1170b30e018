import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_CONFIG, OciRegistry, sha256Digest } from '../../../src/outputs/oci-registry.ts';

test('the empty config descriptor is the digest and size of the two bytes {}', () => {
  assert.equal(EMPTY_CONFIG.digest, sha256Digest('{}'));
  assert.equal(EMPTY_CONFIG.size, Buffer.byteLength('{}'));
});

test('credentials in the registry URL never show in its messages; they go in the Basic header', async () => {
  const r = new OciRegistry({ url: 'http://robot:s3cret-pass@127.0.0.1:9/', timeoutMs: 1_000 });
  assert.equal(r.host, '127.0.0.1:9');
  await assert.rejects(r.pushBlob('agent-machine/x', Buffer.from('x'), 'text/plain'), (err: unknown) => {
    const m = (err as Error).message;
    return /did not answer HEAD/.test(m) && !m.includes('s3cret') && !m.includes('robot');
  });
});
