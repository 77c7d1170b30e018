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

test('after a restart (or a new leader) a decision already in the chain is not recorded again; a new one is', async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'am-recorder-')), 'audit.jsonl');
  const before = await AuditLog.open(file);
  const first = new CommandRecorder(before, eventRecorder);
  await first.record(obj('5'), cmd('completed'));
  await first.record({ kind: 'LocalAgentExecution', metadata: { name: 'other', namespace: 'n', uid: 'u2', resourceVersion: '3' } }, cmd('failed', 'exit 1'));
  // Killed here: the status write of both never happened.
  await before.close();

  const audit = await AuditLog.open(file);
  const recorder = new CommandRecorder(audit, eventRecorder);
  await recorder.record(obj('5'), cmd('completed'));
  assert.equal(audit.head().seq, 2, 'the predecessor stored it: not again');
  const entries = await audit.recent(10);
  assert.deepEqual(entries[0]!.object, { kind: 'LocalAgentExecution', namespace: 'n', name: 'e', uid: 'u1', resourceVersion: '5' }, 'the entry names the version decided on');
  await recorder.record(obj('5'), cmd('failed', 'exit 3'));
  assert.equal(audit.head().seq, 3, 'another decision on the same version is');
  await recorder.record({ kind: 'LocalAgentExecution', metadata: { name: 'other', namespace: 'n', uid: 'u2', resourceVersion: '4' } }, cmd('failed', 'exit 1'));
  assert.equal(audit.head().seq, 4, 'the same decision on a newer version is');
  await audit.close();
  assert.ok((await verifyAuditLog(file)).ok);
});

test('only the newest recallEntries are read back; until they can be read nothing is recorded', async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'am-recorder-')), 'audit.jsonl');
  const before = await AuditLog.open(file);
  const first = new CommandRecorder(before, eventRecorder);
  await first.record(obj('5'), cmd('completed'));
  await first.record({ kind: 'LocalAgentExecution', metadata: { name: 'other', namespace: 'n', uid: 'u2', resourceVersion: '3' } }, cmd('completed'));
  await before.close();

  const audit = await AuditLog.open(file);
  let failing = true;
  let reads = 0;
  const store = {
    append: audit.append.bind(audit),
    head: audit.head.bind(audit),
    close: audit.close.bind(audit),
    recent: (n: number) => {
      reads++;
      return failing ? Promise.reject(new Error('API server unavailable')) : audit.recent(n);
    },
  };
  const recorder = new CommandRecorder(store, eventRecorder, { recallEntries: 1 });
  await assert.rejects(recorder.record(obj('5'), cmd('completed')), /cannot read the newest audit entries.*API server unavailable/);
  assert.equal(audit.head().seq, 2, 'nothing recorded without the recall');
  failing = false;
  await recorder.record(obj('5'), cmd('completed'));
  assert.equal(audit.head().seq, 3, 'u1 was older than the one entry read back: recorded again');
  await recorder.record({ kind: 'LocalAgentExecution', metadata: { name: 'other', namespace: 'n', uid: 'u2', resourceVersion: '3' } }, cmd('completed'));
  assert.equal(audit.head().seq, 3, 'u2 was read back');
  await recorder.record(obj('5'), cmd('completed'));
  assert.equal(reads, 2, 'read back once it succeeded, not per record');
  await audit.close();
});
