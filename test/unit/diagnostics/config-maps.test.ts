import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { BUNDLE_KEY, bundleConfigMaps, CHUNK_BYTES, MAX_PARTS, partName, reassemble } from '../../../src/diagnostics/config-maps.ts';

const owner = { name: 'diag', namespace: 'ns', uid: 'uid-1' };
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('cut into parts under 900 KiB, named <bundle>-part-<n>, labelled, owned, and put back together', () => {
  const data = randomBytes(CHUNK_BYTES * 2 + 1234);
  const cms = bundleConfigMaps(owner, data, digestOf(data));
  assert.deepEqual(cms.map((c) => c.metadata!.name), [partName('diag', 0), partName('diag', 1), partName('diag', 2)]);
  for (const cm of cms) {
    assert.ok(Buffer.from(cm.binaryData![BUNDLE_KEY]!, 'base64').length <= CHUNK_BYTES);
    assert.equal(cm.metadata!.labels!['agentmachine.sourceos.dev/diagnostic-bundle'], 'diag');
    assert.equal(cm.metadata!.ownerReferences![0]!.uid, 'uid-1');
    assert.equal(cm.metadata!.ownerReferences![0]!.kind, 'AgentMachineDiagnosticBundle');
  }
  const r = reassemble([...cms].reverse());
  assert.equal(r.ok, true);
  assert.deepEqual(r.ok && r.tarGz, data);
});

test('a missing or altered part is detected', () => {
  const data = randomBytes(CHUNK_BYTES + 10);
  const cms = bundleConfigMaps(owner, data, digestOf(data));
  assert.equal(reassemble(cms.slice(1)).ok, false);
  const tampered = structuredClone(cms);
  tampered[1]!.binaryData![BUNDLE_KEY] = Buffer.from('evil').toString('base64');
  const r = reassemble(tampered);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.problem : '', /does not match/);
});

test('a small bundle is one ConfigMap; more than 64 parts is refused', () => {
  assert.equal(bundleConfigMaps(owner, Buffer.from('x'), digestOf(Buffer.from('x'))).length, 1);
  assert.throws(() => bundleConfigMaps(owner, Buffer.alloc(CHUNK_BYTES * MAX_PARTS + 1), 'sha256:x'), /at most 64/);
});
