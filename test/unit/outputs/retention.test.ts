import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTPUT_ARTIFACT_TYPE } from '../../../src/outputs/oci-registry.ts';
import { CREATED_ANNOTATION, STATE_ANNOTATION } from '../../../src/outputs/output-store.ts';
import { retentionVerdict } from '../../../src/outputs/retention.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;
const artifact = (state: string | undefined, ageMs: number, artifactType = OUTPUT_ARTIFACT_TYPE) => ({
  artifactType,
  annotations: { ...(state ? { [STATE_ANNOTATION]: state } : {}), [CREATED_ANNOTATION]: new Date(NOW.getTime() - ageMs).toISOString() },
});

test('provisional outputs go after --output-retention; admitted ones stay unless their own retention is set', () => {
  const policy = { provisionalMs: 72 * HOUR };
  assert.equal(retentionVerdict(artifact('provisional', 73 * HOUR), NOW, policy).delete, true);
  assert.equal(retentionVerdict(artifact('provisional', 71 * HOUR), NOW, policy).delete, false);
  assert.equal(retentionVerdict(artifact('admitted', 10_000 * HOUR), NOW, policy).delete, false);
  assert.equal(retentionVerdict(artifact('admitted', 10_000 * HOUR), NOW, { ...policy, admittedMs: 9_999 * HOUR }).delete, true);
  assert.equal(retentionVerdict(artifact('provisional', 73 * HOUR), NOW, { admittedMs: HOUR }).delete, false, 'no provisional retention: kept');
});

test('what this controller did not write is never deleted', () => {
  const policy = { provisionalMs: 1, admittedMs: 1 };
  assert.equal(retentionVerdict(artifact('provisional', HOUR, 'application/vnd.example.other'), NOW, policy).delete, false);
  assert.equal(retentionVerdict(artifact(undefined, HOUR), NOW, policy).delete, false);
  assert.equal(retentionVerdict(artifact('durable', HOUR), NOW, policy).delete, false);
  assert.equal(retentionVerdict({ artifactType: OUTPUT_ARTIFACT_TYPE, annotations: { [STATE_ANNOTATION]: 'provisional', [CREATED_ANNOTATION]: 'yesterday' } }, NOW, policy).delete, false);
  assert.equal(retentionVerdict({ artifactType: OUTPUT_ARTIFACT_TYPE }, NOW, policy).delete, false);
});
