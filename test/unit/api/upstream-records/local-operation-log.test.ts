// sourceos-spec LocalOperationLog entries from audit entries, for every example object in every
// scenario, validated against the upstream schema; entryHash is the chain hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildLocalOperationLog } from '../../../../src/api/upstream-records/local-operation-log.ts';
import { deviceIdFor } from '../../../../src/api/upstream-records/common.ts';
import { entryHash } from '../../../../src/governance/audit-log.ts';
import { DEVICE, exampleObjects, scenario, SCENARIOS } from '../../../support/upstream-record-fixtures.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../../support/upstream.ts';

const SCHEMA = 'SourceOS-Linux__sourceos-spec/schemas/LocalOperationLog.json';
const examples = exampleObjects();

for (const { file, obj } of examples) {
  for (const which of SCENARIOS.filter((w) => w !== 'unreconciled')) {
    test(`${file} ${obj.kind}/${obj.metadata.name} ${which}: a LocalOperationLog entry per audit entry, valid upstream`, (t) => {
      const s = scenario(obj, which);
      const log = buildLocalOperationLog(s.audit, { device: DEVICE, auditStore: 'file' });
      assert.equal(log.length, s.audit.length);
      const dir = referenceDir();
      if (!dir) {
        console.warn(REFERENCE_MISSING);
        return t.skip(REFERENCE_MISSING);
      }
      for (const entry of log) assert.deepEqual(validateReference(dir, SCHEMA, entry), []);
    });
  }
}

test("the upstream example validates against upstream's schema (guards the harness)", (t) => {
  const dir = referenceDir();
  if (!dir) return t.skip(REFERENCE_MISSING);
  const doc = JSON.parse(readFileSync(path.join(dir, 'SourceOS-Linux__sourceos-spec/examples/localoperationlog-terminal-command.json'), 'utf8'));
  assert.deepEqual(validateReference(dir, SCHEMA, doc), []);
  assert.notDeepEqual(validateReference(dir, SCHEMA, { ...doc, surface: 'agent_machine' }), [], 'the enum is enforced');
});

const execution = examples.find((e) => e.obj.kind === 'LocalAgentExecution')!.obj;

test('integrity.entryHash is the chain hash, which the entry itself reproduces', () => {
  const s = scenario(execution, 'completed');
  const log = buildLocalOperationLog(s.audit, { device: DEVICE, auditStore: 'cluster' });
  for (const [i, entry] of log.entries()) {
    const audit = s.audit[i]!;
    assert.equal(entry.integrity.entryHash, `sha256:${entryHash(audit as unknown as Record<string, unknown>)}`);
    assert.equal(entry.operationEventRef, `urn:srcos:agent-machine:audit-entry:${audit.seq}`);
    assert.equal(entry.surface, 'agent-machine');
    assert.equal(entry.deviceRef, deviceIdFor(DEVICE));
    assert.equal(entry.durabilityTier, 'synced');
    assert.equal(entry.workspaceOperationRef, s.obj.status!.operation!.operationId);
  }
  assert.equal(new Set(log.map((e) => e.id)).size, log.length, 'ids are unique');
});

test('a denial is filed as policy.decision and points at the denying gate record', () => {
  const s = scenario(execution, 'denied');
  const [entry] = buildLocalOperationLog(s.audit, { device: DEVICE, auditStore: 'file' });
  assert.equal(entry!.operationType, 'policy.decision');
  assert.equal(entry!.policyDecisionRefs.length, 2);
  assert.equal(entry!.policyGateRecordRef, entry!.policyDecisionRefs[1]);
});

test('payloads are metadata only: nothing but what the audit entry holds, and never a prompt', () => {
  const s = scenario(execution, 'completed');
  for (const entry of buildLocalOperationLog(s.audit, { device: DEVICE, auditStore: 'file' })) {
    assert.equal(entry.payloadMode, 'metadata-only');
    assert.deepEqual(Object.keys(entry.payload).sort(), ['agentMachineOperationType', 'commandRef', 'decisions', 'object', 'outcome', 'rawPromptIncluded', 'reason']);
    const text = JSON.stringify(entry);
    for (const c of (execution.spec as { containers: Array<{ args?: string[] }> }).containers) for (const a of c.args ?? []) if (a.length > 12) assert.ok(!text.includes(a), `argument ${a} leaked`);
  }
});
