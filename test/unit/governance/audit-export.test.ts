import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditLog, type AuditEntry, type AuditRecord } from '../../../src/governance/audit-log.ts';
import { exportEntries, matches, toOcsf } from '../../../src/governance/audit-export.ts';

const BIN = fileURLToPath(new URL('../../../bin/agent-machine.js', import.meta.url));
const rec = (kind: string, name: string, actor: string, outcome: AuditRecord['outcome'] = 'allowed', operationType: AuditRecord['operationType'] = 'agent_machine.execution.start'): AuditRecord => ({ operationType, commandRef: `ns/${name}`, object: { kind, namespace: 'ns', name }, actor, outcome, reason: outcome === 'denied' ? 'PolicyDenied' : 'Running' });

async function logWith(records: AuditRecord[]): Promise<string> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'am-export-')), 'audit.jsonl');
  const log = await AuditLog.open(file, { durability: 'none' });
  for (const r of records) await log.append(r);
  await log.close();
  return file;
}

async function* linesOf(file: string): AsyncGenerator<string> {
  for (const l of readFileSync(file, 'utf8').split('\n')) if (l) yield l;
}

const RECORDS = [rec('LocalAgentExecution', 'triage', 'alice'), rec('ContainerExecutionRecord', 'triage-agent', 'alice', 'started', 'agent_machine.container.run'), rec('LocalAgentExecution', 'other', 'bob', 'denied'), rec('ToolGrantRecord', 'gh', 'alice', 'revoked', 'agent_machine.tool_grant.revoke')];

test('filters: an execution takes its own and its records\' entries; delegator and namespace narrow', async () => {
  const file = await logWith(RECORDS);
  const names = async (f: Parameters<typeof exportEntries>[1]) => {
    const out: string[] = [];
    const r = await exportEntries(linesOf(file), f, (e) => out.push(e.object.name));
    assert.equal(r.ok, true);
    return out;
  };
  assert.deepEqual(await names({ execution: 'triage' }), ['triage', 'triage-agent']);
  assert.deepEqual(await names({ delegator: 'bob' }), ['other']);
  assert.deepEqual(await names({ namespace: 'elsewhere' }), []);
  assert.equal(matches({ at: '2026-01-01T00:00:00Z', actor: 'a', object: { kind: 'X', name: 'x' } } as AuditEntry, { since: new Date('2026-06-01T00:00:00Z') }), false);
});

test('a broken chain stops the export at the first bad seq; what came before was written', async () => {
  const file = await logWith(RECORDS);
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[2] = lines[2]!.replace('"actor":"bob"', '"actor":"mallory"');
  writeFileSync(file, lines.join('\n'));
  const written: number[] = [];
  const r = await exportEntries(linesOf(file), {}, (e) => written.push(e.seq));
  assert.deepEqual([r.ok, !r.ok && r.firstBadSeq, written], [false, 3, [1, 2]]);
});

test('OCSF: API Activity (class 6003), status from the outcome, nothing of the entry lost (unmapped)', async () => {
  const file = await logWith(RECORDS);
  const entries: AuditEntry[] = [];
  await exportEntries(linesOf(file), {}, (e) => entries.push(e));
  const denied = toOcsf(entries[2]!, 'v1alpha1') as any;
  assert.deepEqual([denied.class_uid, denied.category_uid, denied.status_id, denied.status, denied.status_detail, denied.type_uid], [6003, 6, 2, 'Failure', 'PolicyDenied', 600301]);
  assert.equal(denied.actor.user.name, 'bob');
  assert.equal(denied.api.operation, 'agent_machine.execution.start');
  assert.deepEqual(denied.resources, [{ type: 'LocalAgentExecution', name: 'other', namespace: 'ns' }]);
  assert.deepEqual([denied.unmapped.seq, denied.unmapped.hash, denied.metadata.uid], [3, entries[2]!.hash, entries[2]!.hash]);
  assert.equal(denied.time, Date.parse(entries[2]!.at));
  const revoked = toOcsf(entries[3]!, 'v1alpha1') as any;
  assert.deepEqual([revoked.activity_id, revoked.status_id], [4, 1]);
});

test('the CLI: audit export --file, --format ocsf, filters; exit 1 naming the seq on a broken chain', async () => {
  const file = await logWith(RECORDS);
  const run = (args: string[]) => new Promise<{ code: number; out: string; err: string }>((resolve) => execFile(process.execPath, [BIN, 'audit', 'export', '--file', file, ...args], (e, out, err) => resolve({ code: e ? 1 : 0, out, err })));
  const all = await run([]);
  assert.equal(all.code, 0, all.err);
  assert.deepEqual(all.out.trim().split('\n'), readFileSync(file, 'utf8').trim().split('\n'), 'jsonl is the entries exactly as stored');
  assert.match(all.err, /4 of 4 entries written, chain intact/);
  const ocsf = await run(['--format', 'ocsf', '--execution', 'triage']);
  assert.deepEqual(ocsf.out.trim().split('\n').map((l) => JSON.parse(l).class_uid), [6003, 6003]);
  writeFileSync(file, readFileSync(file, 'utf8').replace('"actor":"bob"', '"actor":"mallory"'));
  const broken = await run([]);
  assert.equal(broken.code, 1);
  assert.match(broken.err, /chain BROKEN at seq 3: .*edited/);
});
