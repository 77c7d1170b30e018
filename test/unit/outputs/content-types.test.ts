import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'tar-stream';
import { contentTypes, sniffMediaType } from '../../../src/outputs/content-types.ts';

test('media types come from the bytes, not the name', () => {
  assert.equal(sniffMediaType(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0])), 'application/x-executable');
  assert.equal(sniffMediaType(Buffer.from('MZ\x90\x00')), 'application/vnd.microsoft.portable-executable');
  assert.equal(sniffMediaType(Buffer.from('#!/bin/sh\necho hi\n')), 'text/x-shellscript');
  assert.equal(sniffMediaType(Buffer.from('issues: 3\n')), 'text/plain');
  assert.equal(sniffMediaType(Buffer.from('  {"a": 1}')), 'application/json');
  assert.equal(sniffMediaType(Buffer.from([1, 2, 0, 4])), 'application/octet-stream');
  assert.equal(sniffMediaType(Buffer.from([0xc3, 0x28, 0x41, 0x42])), 'application/octet-stream', 'invalid UTF-8');
  assert.equal(sniffMediaType(Buffer.from('naïve')), 'text/plain');
  assert.equal(sniffMediaType(Buffer.from([0x1f, 0x8b, 8, 0])), 'application/gzip');
});

async function tarOf(entries: Array<{ name: string; type?: 'directory' | 'file' | 'symlink'; body?: Buffer | string; linkname?: string }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  for (const e of entries) {
    const header = { name: e.name, type: e.type ?? 'file', ...(e.linkname ? { linkname: e.linkname } : {}) };
    if (header.type === 'file') p.entry(header, e.body ?? '');
    else p.entry(header);
  }
  p.finalize();
  await new Promise<void>((r) => p.on('end', () => r()));
  return Buffer.concat(chunks);
}

test("an archive's content types: distinct, sorted, links named, folders none", async () => {
  const tar = await tarOf([
    { name: 'sub', type: 'directory' },
    { name: 'report.txt', body: 'hello\n' },
    { name: 'sub/notes.txt', body: 'more\n' },
    { name: 'tool.txt', body: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(10_000)]) },
    { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
  ]);
  assert.deepEqual(await contentTypes(tar), ['application/x-executable', 'inode/symlink', 'text/plain']);
  assert.deepEqual(await contentTypes(await tarOf([])), []);
});
