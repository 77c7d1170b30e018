import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readTar, writeTar } from '../../../src/diagnostics/tar.ts';

const entries = [
  { path: 'manifest.json', data: Buffer.from('{"a":1}\n'), mtime: 1_700_000_000 },
  { path: 'empty.txt', data: Buffer.alloc(0), mtime: 1_700_000_000 },
  { path: 'exactly-512.bin', data: Buffer.alloc(512, 7), mtime: 1_700_000_000 },
  { path: `objects/ContainerExecutionRecord/${'r'.repeat(63)}-${'c'.repeat(63)}.yaml`, data: Buffer.from('kind: x\n'), mtime: 1_700_000_000 },
  { path: `${'d'.repeat(120)}/${'f'.repeat(90)}.txt`, data: Buffer.from('prefix split\n'), mtime: 1_700_000_000 },
  { path: 'logs/ünïcode.txt', data: Buffer.from('héllo\n'), mtime: 1_700_000_000 },
];

test('round trip: paths (ustar, prefix-split, PAX), contents, mtimes, block alignment', () => {
  const tar = writeTar(entries);
  assert.equal(tar.length % 512, 0);
  const back = readTar(tar);
  assert.deepEqual(back.map((e) => e.path), entries.map((e) => e.path));
  for (const [i, e] of back.entries()) {
    assert.deepEqual(e.data, entries[i]!.data);
    assert.equal(e.mtime, 1_700_000_000);
  }
});

test('deterministic: same entries, same bytes', () => {
  assert.deepEqual(writeTar(entries), writeTar(entries));
});

test('refuses absolute and parent paths', () => {
  assert.throws(() => writeTar([{ path: '/etc/passwd', data: Buffer.alloc(0) }]));
  assert.throws(() => writeTar([{ path: 'a/../../b', data: Buffer.alloc(0) }]));
});

test('GNU tar reads what we write', { skip: !hasTar() }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'am-tar-'));
  const file = path.join(dir, 'b.tar');
  writeFileSync(file, writeTar(entries));
  const listed = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(listed, entries.map((e) => e.path));
  execFileSync('tar', ['-xf', file, '-C', dir]);
  assert.equal(readFileSync(path.join(dir, entries[3]!.path), 'utf8'), 'kind: x\n');
  assert.equal(readFileSync(path.join(dir, 'logs/ünïcode.txt'), 'utf8'), 'héllo\n');
});

function hasTar(): boolean {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
