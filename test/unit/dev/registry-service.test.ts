import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { registryConfig } from '../../../src/dev/registry-service.ts';

test('the registry listens on loopback only, keeps blobs where asked, and allows deletes (retention)', () => {
  const c = parse(registryConfig('/var/tmp/a "quoted" dir', 5123));
  assert.equal(c.http.addr, '127.0.0.1:5123');
  assert.equal(c.storage.filesystem.rootdirectory, '/var/tmp/a "quoted" dir');
  assert.equal(c.storage.delete.enabled, true);
});
