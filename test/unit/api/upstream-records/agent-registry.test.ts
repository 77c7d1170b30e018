// agent-registry AgentToolGrant and AgentRevocationRecord for every example grant, validated
// against the upstream records schema; evidence is the audit entry's hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildAgentRegistryRecords, MissingEvidence } from '../../../../src/api/upstream-records/agent-registry.ts';
import { exampleObjects, inputsFor, scenario } from '../../../support/upstream-record-fixtures.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../../support/upstream.ts';

const SCHEMA = 'SocioProphet__agent-registry/contracts/workspace-operations/records.v0.1.schema.json';
const examples = exampleObjects();
const grants = examples.filter((e) => e.obj.kind === 'ToolGrantRecord');

for (const { file, obj } of grants) {
  for (const which of ['completed', 'cancelled'] as const) {
    test(`${file} ${obj.metadata.name} ${which === 'completed' ? 'active' : 'revoked'}: AgentToolGrant and AgentRevocationRecord validate upstream`, (t) => {
      const s = scenario(obj, which);
      const { toolGrant, revocation } = buildAgentRegistryRecords(inputsFor(s.obj, s.audit));
      const dir = referenceDir();
      if (!dir) {
        console.warn(REFERENCE_MISSING);
        return t.skip(REFERENCE_MISSING);
      }
      assert.deepEqual(validateReference(dir, SCHEMA, toolGrant), []);
      assert.deepEqual(validateReference(dir, SCHEMA, toolGrant, 'AgentToolGrant'), []);
      assert.deepEqual(validateReference(dir, SCHEMA, revocation), []);
      assert.deepEqual(validateReference(dir, SCHEMA, revocation, 'AgentRevocationRecord'), []);
    });
  }
}

test("the upstream examples validate against upstream's schema (guards the harness)", (t) => {
  const dir = referenceDir();
  if (!dir) return t.skip(REFERENCE_MISSING);
  const examplesDir = 'SocioProphet__agent-registry/examples/workspace-operations/';
  for (const [file, def] of [['tool-grants.example.json', 'AgentToolGrant'], ['revocation-records.example.json', 'AgentRevocationRecord']] as const) {
    for (const doc of JSON.parse(readFileSync(`${dir}/${examplesDir}${file}`, 'utf8')) as unknown[]) {
      assert.deepEqual(validateReference(dir, SCHEMA, doc, def), []);
    }
  }
});

const grant = grants.find((g) => g.obj.metadata.name === 'issue-triage-github' || g.file.endsWith('github-issues.yaml'))!.obj;

test('evidence: the apply entry for the grant, the revoke entry once revoked', () => {
  const active = scenario(grant, 'completed');
  const apply = active.audit.find((e) => e.operationType === 'agent_machine.tool_grant.apply')!;
  const records = buildAgentRegistryRecords(inputsFor(active.obj, active.audit));
  assert.equal(records.toolGrant.spec.evidenceRef, `urn:srcos:agent-machine:audit-entry:${apply.seq}#sha256:${apply.hash}`);
  assert.equal(records.revocation.spec.revocationState, 'not-revoked');
  assert.deepEqual(records.revocation.spec.revokedTools, []);

  const revoked = scenario({ ...grant, spec: { ...grant.spec, revoked: true } } as typeof grant, 'cancelled');
  const cancel = revoked.audit.at(-1)!;
  const r = buildAgentRegistryRecords(inputsFor(revoked.obj, revoked.audit)).revocation;
  assert.equal(r.spec.revocationState, 'revoked');
  assert.deepEqual(r.spec.reasonCodes, ['revoked-by-delegator']);
  assert.deepEqual(r.spec.revokedTools, buildAgentRegistryRecords(inputsFor(revoked.obj, revoked.audit)).toolGrant.spec.allowedTools);
  assert.equal(r.spec.evidenceRef, `urn:srcos:agent-machine:audit-entry:${cancel.seq}#sha256:${cancel.hash}`);
});

test('without the apply entry there is no evidence, and no record', () => {
  assert.throws(() => buildAgentRegistryRecords(inputsFor(grant, [])), MissingEvidence);
});

test('actions become one tool ref each; no actions is the whole tool', () => {
  const s = scenario(grant, 'completed');
  const spec = grant.spec as { tool: string; actions?: string[] };
  const tools = buildAgentRegistryRecords(inputsFor(s.obj, s.audit)).toolGrant.spec.allowedTools;
  if ((spec.actions ?? []).length > 0) assert.deepEqual(tools, spec.actions!.map((a) => `tool://agent-machine/${spec.tool}/${a}`));
  const whole = scenario({ ...grant, spec: { ...grant.spec, actions: [] } } as typeof grant, 'completed');
  assert.deepEqual(buildAgentRegistryRecords(inputsFor(whole.obj, whole.audit)).toolGrant.spec.allowedTools, [`tool://agent-machine/${spec.tool}`]);
});

test('other kinds have no agent-registry records', () => {
  for (const { obj } of examples.filter((e) => e.obj.kind !== 'ToolGrantRecord')) assert.throws(() => buildAgentRegistryRecords(inputsFor(obj, [])), /ToolGrantRecord's; /);
});
