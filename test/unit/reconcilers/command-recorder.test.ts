// CommandRecorder: one audit line per decision even when the reconcile that made it is retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditLog, verifyAuditLog } from '../../../src/governance/audit-log.ts';
import { CommandRecorder, type Command } from '../../../src/reconcilers/command-recorder.ts';
import type { EventRecorder } from '../../../src/operator/events.ts';

const events: string[] = [];
const eventRecorder = { record: async (_o: unknown, e: { reason: string }) => void events.push(e.reason) } as unknown as EventRecorder;
const obj = (rv: string) => ({ kind: 'LocalAgentExecution', metadata: { name: 'e', namespace: 'n', uid: 'u1', resourceVersion: rv } });
const cmd = (outcome: Command['outcome'], message = 'every container exited 0'): Command => ({ operationType: 'agent_machine.execution.start', outcome, reason: 'Succeeded', message, actor: 'alice' });

test('a retried reconcile on the same object version does not audit its decision again; a new version or decision does', async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'am-recorder-')), 'audit.jsonl');
  const audit = await AuditLog.open(file);
  const recorder = new CommandRecorder(audit, eventRecorder);
  await recorder.record(obj('5'), cmd('completed'));
  await recorder.record(obj('5'), cmd('completed')); // the status write failed: same version, same decision
  assert.equal(audit.head().seq, 1);
  await recorder.record(obj('5'), cmd('failed', 'exit 3'));
  assert.equal(audit.head().seq, 2, 'another decision on the same version is audited');
  await recorder.record(obj('7'), cmd('failed', 'exit 3'));
  assert.equal(audit.head().seq, 3, 'the same decision on a newer version is audited');
  await recorder.record({ kind: 'LocalAgentExecution', metadata: { name: 'x' } }, cmd('completed'));
  await recorder.record({ kind: 'LocalAgentExecution', metadata: { name: 'x' } }, cmd('completed'));
  assert.equal(audit.head().seq, 5, 'without uid and version nothing is deduplicated');
  assert.equal(events.length, 6, 'every call still records its Event (best effort, may have failed before)');
  await audit.close();
  assert.ok((await verifyAuditLog(file)).ok);
});
