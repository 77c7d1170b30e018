import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AuditLog,
  AuditLogError,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
  sanitizeReason,
  verifyAuditLog,
  type AuditRecord,
} from '../../../src/governance/audit-log.ts';

function tempLog(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'am-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'audit', 'audit.jsonl');
}

function record(i: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    operationType: 'agent_machine.execution.start',
    commandRef: `cmd-${i}`,
    object: { kind: 'LocalAgentExecution', namespace: 'team-a', name: `run-${i}`, uid: `uid-${i}` },
    actor: 'alice',
    delegate: 'agent:summarizer',
    outcome: 'allowed',
    reason: `admitted ${i}`,
    decisions: [{ gate: 'authority', rule: 'authority.scope', allowed: true, message: 'scope covers' }],
    ...over,
  };
}

async function writeLog(file: string, n: number): Promise<void> {
  const log = await AuditLog.open(file);
  for (let i = 1; i <= n; i++) await log.append(record(i));
  await log.close();
}

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const writeLines = (file: string, ls: string[]): void => writeFileSync(file, ls.map((l) => `${l}\n`).join(''));

test('entries chain: seq from 1, first prevHash is 64 zeros, hash covers the canonical entry', async (t) => {
  const file = tempLog(t);
  const log = await AuditLog.open(file, { clock: () => new Date('2029-06-01T12:00:00Z') });
  const first = await log.append(record(1));
  const second = await log.append(record(2));
  await log.close();
  assert.equal(first.seq, 1);
  assert.equal(first.prevHash, GENESIS_HASH);
  assert.equal(first.at, '2029-06-01T12:00:00.000Z');
  assert.equal(second.prevHash, first.hash);
  assert.equal(second.seq, 2);
  const { hash, ...rest } = first;
  assert.equal(hash, entryHash(rest));
  assert.equal(lines(file)[0], canonicalJson(first));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(await verifyAuditLog(file), { ok: true, entries: 2 });
});

test('canonical JSON sorts keys at every level', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
});

test('reopening continues the chain', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 3);
  const log = await AuditLog.open(file);
  const last = JSON.parse(lines(file)[2]!);
  assert.deepEqual(log.head(), { seq: 3, hash: last.hash });
  const next = await log.append(record(4));
  await log.close();
  assert.equal(next.seq, 4);
  assert.equal(next.prevHash, last.hash);
  assert.deepEqual(await verifyAuditLog(file), { ok: true, entries: 4 });
});

test('concurrent appends are serialized into one unbroken chain', async (t) => {
  const file = tempLog(t);
  const log = await AuditLog.open(file);
  const entries = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(record(i))));
  await log.close();
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.deepEqual(await verifyAuditLog(file), { ok: true, entries: 200 });
});

test('an append made right after another resolves is written too (no lost wake-up)', async (t) => {
  const file = tempLog(t);
  const log = await AuditLog.open(file, { durability: 'none' });
  for (let i = 1; i <= 20; i++) await log.append(record(i));
  await log.close();
  assert.equal(lines(file).length, 20);
});

test('editing a field in line 3 is detected at line 3', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 5);
  const ls = lines(file);
  ls[2] = ls[2]!.replace('"outcome":"allowed"', '"outcome":"denied"');
  writeLines(file, ls);
  const result = await verifyAuditLog(file);
  assert.equal(result.ok, false);
  assert.equal(result.firstBadLine, 3);
  assert.equal(result.entries, 2);
  assert.match(result.problem ?? '', /edited/);
});

test('an edit with a recomputed hash breaks the link at the next line', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 5);
  const ls = lines(file);
  const forged = { ...JSON.parse(ls[2]!), actor: 'mallory' };
  forged.hash = entryHash(forged);
  ls[2] = canonicalJson(forged);
  writeLines(file, ls);
  const result = await verifyAuditLog(file);
  assert.equal(result.firstBadLine, 4);
  assert.match(result.problem ?? '', /deleted, inserted or reordered/);
});

test('deleting line 3 is detected at line 3', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 5);
  const ls = lines(file);
  ls.splice(2, 1);
  writeLines(file, ls);
  const result = await verifyAuditLog(file);
  assert.equal(result.ok, false);
  assert.equal(result.firstBadLine, 3);
});

test('deleting the first line is detected at line 1', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 3);
  writeLines(file, lines(file).slice(1));
  const result = await verifyAuditLog(file);
  assert.equal(result.firstBadLine, 1);
  assert.match(result.problem ?? '', /genesis/);
});

test('swapping lines 2 and 3 is detected at line 2', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 5);
  const ls = lines(file);
  [ls[1], ls[2]] = [ls[2]!, ls[1]!];
  writeLines(file, ls);
  const result = await verifyAuditLog(file);
  assert.equal(result.ok, false);
  assert.equal(result.firstBadLine, 2);
});

test('an inserted line is detected where it was inserted', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 5);
  const ls = lines(file);
  const copy = ls[0]!;
  ls.splice(3, 0, copy);
  writeLines(file, ls);
  const result = await verifyAuditLog(file);
  assert.equal(result.firstBadLine, 4);
});

test('a truncated last line is detected by verify and refused by open', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 5);
  truncateSync(file, statSync(file).size - 20);
  const result = await verifyAuditLog(file);
  assert.equal(result.ok, false);
  assert.equal(result.firstBadLine, 5);
  assert.equal(result.entries, 4);
  assert.match(result.problem ?? '', /incomplete final line/);
  await assert.rejects(AuditLog.open(file), (error: unknown) => {
    assert.ok(error instanceof AuditLogError);
    assert.equal(error.problem, 'torn-tail');
    assert.equal(error.line, 5);
    return true;
  });
});

test('an edited last line is refused by open', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 3);
  const ls = lines(file);
  ls[2] = ls[2]!.replace('"actor":"alice"', '"actor":"mallory"');
  writeLines(file, ls);
  await assert.rejects(AuditLog.open(file), (error: unknown) => error instanceof AuditLogError && error.problem === 'bad-tail' && error.line === 3);
});

test('whole lines cut off the end are caught against an anchored head', async (t) => {
  const file = tempLog(t);
  const log = await AuditLog.open(file);
  for (let i = 1; i <= 5; i++) await log.append(record(i));
  const head = log.head();
  await log.close();
  assert.deepEqual(await verifyAuditLog(file, { head }), { ok: true, entries: 5 });
  writeLines(file, lines(file).slice(0, 4));
  assert.equal((await verifyAuditLog(file)).ok, true, 'the chain alone cannot see it');
  const anchored = await verifyAuditLog(file, { head });
  assert.equal(anchored.ok, false);
  assert.equal(anchored.firstBadLine, 5);
  assert.match(anchored.problem ?? '', /ends at seq 4 but the anchored head is seq 5/);
});

test('a large last line (over the tail read chunk) is read back correctly, multi-byte characters included', async (t) => {
  const file = tempLog(t);
  const log = await AuditLog.open(file);
  await log.append(record(1));
  const decisions = Array.from({ length: 200 }, (_, i) => ({ gate: 'toolGrant', rule: `cel.r${i}`, allowed: true, message: `règle ✓ ${'é'.repeat(400)}` }));
  const big = await log.append(record(2, { decisions }));
  await log.close();
  assert.ok(statSync(file).size > 128 * 1024);
  const reopened = await AuditLog.open(file);
  assert.deepEqual(reopened.head(), { seq: 2, hash: big.hash });
  await reopened.close();
});

test('reasons are sanitized: one line, at most 512 characters', async (t) => {
  assert.equal(sanitizeReason('line one\nline two\r\n\tend'), 'line one line two end');
  const long = sanitizeReason('x'.repeat(2000));
  assert.equal(long.length, 512);
  assert.ok(long.endsWith('…'));
  const file = tempLog(t);
  const log = await AuditLog.open(file);
  const entry = await log.append(record(1, { reason: `denied\n${'y'.repeat(1000)}` }));
  await log.close();
  assert.equal(entry.reason.length, 512);
  assert.ok(!entry.reason.includes('\n'));
});

test('invalid records and appends after close are rejected', async (t) => {
  const file = tempLog(t);
  const log = await AuditLog.open(file);
  await assert.rejects(log.append({ ...record(1), actor: '' }), /lacks actor/);
  await log.close();
  await assert.rejects(log.append(record(2)), /closed/);
  assert.equal(readFileSync(file, 'utf8'), '');
});

test('verify reports an unreadable file instead of throwing', async () => {
  const result = await verifyAuditLog('/nonexistent/audit.jsonl');
  assert.equal(result.ok, false);
  assert.match(result.problem ?? '', /cannot read/);
});

test('recoverTornTail moves an unacknowledged torn fragment aside and continues the chain', async () => {
  const { readFile, appendFile, readdir } = await import('node:fs/promises');
  const dir = mkdtempSync(path.join(tmpdir(), 'audit-torn-'));
  const file = path.join(dir, 'audit.jsonl');
  const log = await AuditLog.open(file);
  for (let i = 0; i < 3; i++) await log.append(record(i));
  await log.close();
  await appendFile(file, '{"actor":"alice","at":"2026-');
  await assert.rejects(AuditLog.open(file), /incomplete/);
  let moved = '';
  const reopened = await AuditLog.open(file, { recoverTornTail: true, onRecovered: (p) => (moved = p) });
  await reopened.append(record(3));
  await reopened.close();
  assert.match(moved, /audit\.jsonl\.torn-/);
  assert.equal(await readFile(moved, 'utf8'), '{"actor":"alice","at":"2026-');
  assert.ok((await readdir(dir)).some((f) => f.startsWith('audit.jsonl.torn-')));
  const verified = await verifyAuditLog(file);
  assert.deepEqual([verified.ok, verified.entries], [true, 4]);
});

test('recent(n) reads the newest n entries back, oldest first, across read chunks; fewer when the log is shorter', async (t) => {
  const file = tempLog(t);
  // ~0.5 KB a line: 400 lines span several 64 KB chunks.
  const log = await AuditLog.open(file);
  for (let i = 1; i <= 400; i++) await log.append(record(i, { reason: `admitted ${i} ${'x'.repeat(300)}` }));
  const newest = await log.recent(250);
  assert.deepEqual([newest.length, newest[0]!.seq, newest.at(-1)!.seq], [250, 151, 400]);
  assert.equal(newest.at(-1)!.hash, log.head().hash);
  assert.deepEqual((await log.recent(1000)).map((e) => e.seq), Array.from({ length: 400 }, (_, i) => i + 1));
  assert.deepEqual(await log.recent(0), []);
  await log.close();
  const empty = await AuditLog.open(tempLog(t));
  assert.deepEqual(await empty.recent(10), []);
  await empty.close();
});

test('recent(n) leaves out a line still being written, and refuses an edited entry among those it reads', async (t) => {
  const file = tempLog(t);
  await writeLog(file, 6);
  const log = await AuditLog.open(file);
  writeFileSync(file, '{"seq":7,"half', { flag: 'a' });
  assert.deepEqual((await log.recent(3)).map((e) => e.seq), [4, 5, 6]);
  await log.close();

  const ls = lines(file);
  ls[4] = ls[4]!.replace('"outcome":"allowed"', '"outcome":"denied"');
  writeLines(file, ls);
  const edited = await AuditLog.open(file);
  await assert.rejects(edited.recent(3), (e: unknown) => e instanceof AuditLogError && e.problem === 'broken' && /after seq 4 .*edited/.test(e.message));
  assert.equal((await edited.recent(1))[0]!.seq, 6, 'an edit before the entries read is not theirs to judge (verify is)');
  await edited.close();
});
