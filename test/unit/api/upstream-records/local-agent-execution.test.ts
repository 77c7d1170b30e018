// workstation-contracts LocalAgentExecution for every example execution in every scenario,
// validated against the upstream schema; other kinds have none and say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildLocalAgentExecution } from '../../../../src/api/upstream-records/local-agent-execution.ts';
import { deviceIdFor, gateIdFor } from '../../../../src/api/upstream-records/common.ts';
import { DEVICE, exampleObjects, inputsFor, scenario, SCENARIOS } from '../../../support/upstream-record-fixtures.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../../support/upstream.ts';

const SCHEMA = 'SociOS-Linux__workstation-contracts/schemas/workspace-ops/local-agent-execution.schema.json';
const examples = exampleObjects();

for (const { file, obj } of examples.filter((e) => e.obj.kind === 'LocalAgentExecution')) {
  for (const which of SCENARIOS) {
    test(`${file} ${obj.metadata.name} ${which}: LocalAgentExecution validates upstream`, (t) => {
      const s = scenario(obj, which);
      const record = buildLocalAgentExecution(inputsFor(s.obj, s.audit));
      assert.equal(record.deviceId, deviceIdFor(DEVICE));
      const dir = referenceDir();
      if (!dir) {
        console.warn(REFERENCE_MISSING);
        return t.skip(REFERENCE_MISSING);
      }
      assert.deepEqual(validateReference(dir, SCHEMA, record), []);
    });
  }
}

test('the other kinds have no LocalAgentExecution record', () => {
  for (const { obj } of examples.filter((e) => e.obj.kind !== 'LocalAgentExecution')) {
    assert.throws(() => buildLocalAgentExecution(inputsFor(obj, [])), /LocalAgentExecution's; /);
  }
});

const execution = examples.find((e) => e.obj.kind === 'LocalAgentExecution' && e.obj.metadata.name === 'issue-triage')!.obj;

test('status follows the phase: Denied is gated, Cancelled cancelled, Succeeded completed; before admission pending', () => {
  const status = (which: (typeof SCENARIOS)[number]) => {
    const s = scenario(execution, which);
    return buildLocalAgentExecution(inputsFor(s.obj, s.audit)).status;
  };
  assert.deepEqual(SCENARIOS.map(status), ['pending', 'completed', 'gated', 'cancelled']);
});

test('policyGateId names the denying gate record when denied, the last admitting one otherwise, the profile gate before any decision', () => {
  const denied = scenario(execution, 'denied');
  const uid = execution.metadata.uid!;
  const denial = denied.obj.status!.decisions!.find((d) => !d.allowed)!;
  assert.equal(buildLocalAgentExecution(inputsFor(denied.obj, denied.audit)).policyGateId, gateIdFor(uid, denial));
  const done = scenario(execution, 'completed');
  assert.equal(buildLocalAgentExecution(inputsFor(done.obj, done.audit)).policyGateId, gateIdFor(uid, done.obj.status!.decisions!.at(-1)!));
  assert.equal(buildLocalAgentExecution(inputsFor(execution, [])).policyGateId, `urn:srcos:policy-gate:agentmachineprofile:${(execution.spec as { profileRef: { name: string } }).profileRef.name}:containerExecution`);
});

test('evidence is the last audit entry; tokens used are reported', () => {
  const s = scenario(execution, 'completed');
  const record = buildLocalAgentExecution(inputsFor(s.obj, s.audit));
  assert.equal(record.evidenceRef, `urn:srcos:agent-machine:audit-entry:${s.audit.at(-1)!.seq}#sha256:${s.audit.at(-1)!.hash}`);
  assert.deepEqual(record.tokenUsage, { totalTokens: 1234 });
  assert.equal(record.startedAt, '2026-05-07T00:01:00.000Z');
  assert.equal(record.endedAt, '2026-05-07T00:05:00.000Z');
});

test('side effects are declared from the spec: a workspace or output is filesystem, network none is none', () => {
  const ex = structuredClone(execution) as typeof execution & { spec: any };
  ex.spec.network = { mode: 'none' };
  delete ex.spec.tools;
  delete ex.spec.modelProviderRef;
  for (const c of ex.spec.containers) {
    delete c.workspace;
    delete c.outputs;
  }
  assert.deepEqual(buildLocalAgentExecution(inputsFor(ex, [])).sideEffects, { classification: 'none', filesWritten: [], networkTargets: [] });
  ex.spec.containers[0].outputs = [{ name: 'report', path: '/out/report' }];
  assert.deepEqual(buildLocalAgentExecution(inputsFor(ex, [])).sideEffects, { classification: 'filesystem', filesWritten: ['/out/report'], networkTargets: [] });
  ex.spec.network = { mode: 'allowlist', egressAllowlist: ['api.github.com'] };
  assert.deepEqual(buildLocalAgentExecution(inputsFor(ex, [])).sideEffects, { classification: 'filesystem+network', filesWritten: ['/out/report'], networkTargets: ['api.github.com'] });
});
