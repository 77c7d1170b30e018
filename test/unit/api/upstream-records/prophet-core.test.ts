// prophet-core WorkspaceOperation / OperationTask / OperationEvent for every example object in
// every scenario, validated against the upstream schemas read from the reference folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProphetCoreRecords } from '../../../../src/api/upstream-records/prophet-core.ts';
import { auditEventId } from '../../../../src/api/upstream-records/common.ts';
import { exampleObjects, inputsFor, scenario, SCENARIOS } from '../../../support/upstream-record-fixtures.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../../support/upstream.ts';

const OPERATION = 'SocioProphet__prophet-core-contracts/schemas/workspace-operation.schema.json';
const TASK_EVENT = 'SocioProphet__prophet-core-contracts/schemas/operation-task-event.schema.json';

for (const { file, obj } of exampleObjects()) {
  for (const which of SCENARIOS) {
    test(`${file} ${obj.kind}/${obj.metadata.name} ${which}: WorkspaceOperation, OperationTask and OperationEvents validate upstream`, (t) => {
      const s = scenario(obj, which);
      const records = buildProphetCoreRecords(inputsFor(s.obj, s.audit));
      assert.equal(records.operationEvents.length, s.audit.length, 'one event per audit entry');
      const dir = referenceDir();
      if (!dir) {
        console.warn(REFERENCE_MISSING);
        return t.skip(REFERENCE_MISSING);
      }
      assert.deepEqual(validateReference(dir, OPERATION, records.workspaceOperation), []);
      for (const task of records.operationTasks) {
        assert.deepEqual(validateReference(dir, TASK_EVENT, task), [], 'the oneOf accepts it as exactly one kind');
        assert.deepEqual(validateReference(dir, TASK_EVENT, task, 'OperationTask'), []);
      }
      for (const event of records.operationEvents) {
        assert.deepEqual(validateReference(dir, TASK_EVENT, event), []);
        assert.deepEqual(validateReference(dir, TASK_EVENT, event, 'OperationEvent'), []);
      }
    });
  }
}

const execution = exampleObjects().find((e) => e.obj.kind === 'LocalAgentExecution')!.obj;

test('Denied is blocked upstream, a plain failure failed, cancelled canceled', () => {
  const denied = scenario(execution, 'denied');
  const records = buildProphetCoreRecords(inputsFor(denied.obj, denied.audit));
  assert.equal(denied.obj.status?.operation?.state, 'failed', 'our operation says failed');
  assert.equal(records.workspaceOperation.status, 'blocked');
  assert.equal(records.operationTasks[0]!.status, 'blocked');
  assert.equal(records.operationTasks[0]!.error?.error_class, 'policy_denied');
  assert.equal(records.operationTasks[0]!.error?.responsible_actor, 'workspace_owner', 'a profile rule denied it');
  assert.equal(records.operationEvents[0]!.event_type, 'workspace.operation.policy_blocked');

  const failed = { ...denied.obj, status: { ...denied.obj.status, phase: 'Failed', decisions: [] } } as typeof denied.obj;
  const plain = buildProphetCoreRecords(inputsFor(failed, []));
  assert.equal(plain.workspaceOperation.status, 'failed');
  assert.equal(plain.operationTasks[0]!.error?.error_class, 'operation_failed');

  const cancelled = scenario(execution, 'cancelled');
  assert.equal(cancelled.obj.status?.operation?.state, 'cancelled');
  assert.equal(buildProphetCoreRecords(inputsFor(cancelled.obj, cancelled.audit)).workspaceOperation.status, 'canceled');
});

test("our spelling would not pass upstream: the mapping is what makes it valid", (t) => {
  const dir = referenceDir();
  if (!dir) return t.skip(REFERENCE_MISSING);
  const cancelled = scenario(execution, 'cancelled');
  const op = buildProphetCoreRecords(inputsFor(cancelled.obj, cancelled.audit)).workspaceOperation;
  assert.notDeepEqual(validateReference(dir, OPERATION, { ...op, status: 'cancelled' }), []);
  assert.notDeepEqual(validateReference(dir, OPERATION, { ...op, extra: true }), [], 'additionalProperties are refused: the validator is strict');
});

test('event ids are the audit sequence; the hash rides along as evidence', () => {
  const s = scenario(execution, 'completed');
  const events = buildProphetCoreRecords(inputsFor(s.obj, s.audit)).operationEvents;
  assert.deepEqual(events.map((e) => e.event_id), s.audit.map((e) => auditEventId(e)));
  assert.deepEqual(events.map((e) => e.event_id), ['urn:srcos:agent-machine:audit-entry:1', 'urn:srcos:agent-machine:audit-entry:2']);
  assert.deepEqual(events.map((e) => (e.payload['audit'] as { hash: string }).hash), s.audit.map((e) => e.hash));
  assert.deepEqual(events.map((e) => e.event_type), ['workspace.operation.task_started', 'workspace.operation.completed']);
  assert.deepEqual(events[0]!.actor, { actor_type: 'agent', actor_id: (execution.spec as { authority: { delegate: string } }).authority.delegate });
});

test('without an audit trail the status events stand in, with ids that say so', () => {
  const s = scenario(execution, 'completed');
  const events = buildProphetCoreRecords(inputsFor(s.obj, [])).operationEvents;
  assert.equal(events.length, s.obj.status!.operation!.events!.length);
  for (const [i, e] of events.entries()) assert.equal(e.event_id, `${s.obj.status!.operation!.operationId}:status-event:${i}`);
});

test('allowed and denied decisions alike become policy gate ids of the operation', () => {
  const s = scenario(execution, 'denied');
  const op = buildProphetCoreRecords(inputsFor(s.obj, s.audit)).workspaceOperation;
  assert.equal(op.policy_gate_ids.length, 2);
  assert.equal(new Set(op.policy_gate_ids).size, 2);
});
