// prophet-core PolicyGateRecord per decision, allowed ones included, for every example object,
// validated against the upstream decision-policy-adapter schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPolicyGateRecords } from '../../../../src/api/upstream-records/policy-gate.ts';
import { gateIdFor } from '../../../../src/api/upstream-records/common.ts';
import { allow } from '../../../../src/governance/decision.ts';
import { exampleObjects, inputsFor, scenario, SCENARIOS } from '../../../support/upstream-record-fixtures.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../../support/upstream.ts';

const SCHEMA = 'SocioProphet__prophet-core-contracts/schemas/decision-policy-adapter.schema.json';
const examples = exampleObjects();

for (const { file, obj } of examples) {
  for (const which of SCENARIOS) {
    test(`${file} ${obj.kind}/${obj.metadata.name} ${which}: a PolicyGateRecord per decision, valid upstream`, (t) => {
      const s = scenario(obj, which);
      const records = buildPolicyGateRecords(inputsFor(s.obj, s.audit));
      assert.equal(records.length, (s.obj.status?.decisions ?? []).length);
      const dir = referenceDir();
      if (!dir) {
        console.warn(REFERENCE_MISSING);
        return t.skip(REFERENCE_MISSING);
      }
      for (const r of records) {
        assert.deepEqual(validateReference(dir, SCHEMA, r), [], 'the oneOf accepts it as exactly one kind');
        assert.deepEqual(validateReference(dir, SCHEMA, r, 'PolicyGateRecord'), []);
      }
    });
  }
}

const execution = examples.find((e) => e.obj.kind === 'LocalAgentExecution')!.obj;

test('allowed decisions pass, denials block; each cites the audit entries that carried it', () => {
  const s = scenario(execution, 'denied');
  const records = buildPolicyGateRecords(inputsFor(s.obj, s.audit));
  assert.deepEqual(records.map((r) => r.status), ['passed', 'blocking']);
  assert.deepEqual(records.map((r) => r.gate_type), ['agent_machine.authority', 'agent_machine.networkProfile']);
  assert.equal(records[1]!.responsible_actor, 'workspace_owner');
  assert.ok(records[1]!.remediation_options.length > 0);
  assert.deepEqual(records[0]!.remediation_options, []);
  for (const r of records) assert.deepEqual(r.evidence_refs, s.audit.map((e) => `urn:srcos:agent-machine:audit-entry:${e.seq}#sha256:${e.hash}`));
});

test('gate ids are stable per object, gate and rule', () => {
  const uid = 'aaaaaaaa-0000-0000-0000-000000000001';
  const a = allow('toolGrant', 'grant.active', 'one message');
  const b = allow('toolGrant', 'grant.active', 'another message, same rule');
  assert.equal(gateIdFor(uid, a), gateIdFor(uid, b));
  assert.notEqual(gateIdFor(uid, a), gateIdFor(uid, allow('toolGrant', 'grant.tenant', 'x')));
  assert.notEqual(gateIdFor(uid, a), gateIdFor('aaaaaaaa-0000-0000-0000-000000000002', a));
  assert.match(gateIdFor(uid, allow('networkProfile', 'cel:has spaces & "quotes"', 'x')), /^urn:srcos:policy-gate-record:[a-z0-9-]+:networkProfile:[0-9a-f]{16}$/);
});

test('a decision only the audit trail still has is recorded too', () => {
  const s = scenario(execution, 'completed');
  const obj = { ...s.obj, status: { ...s.obj.status, decisions: [] } } as typeof s.obj;
  assert.equal(buildPolicyGateRecords(inputsFor(obj, s.audit)).length, 2);
  assert.equal(buildPolicyGateRecords(inputsFor(obj, [])).length, 0);
});
