import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pack, type Header } from 'tar-stream';
import { entryProblem, extractInto } from '../../../src/outputs/safe-extract.ts';

async function tarOf(entries: Array<Partial<Header> & { name: string; body?: string }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  for (const { body, ...h } of entries) p.entry({ type: 'file', ...h }, body ?? '');
  p.finalize();
  await new Promise<void>((r) => p.on('end', () => r()));
  return Buffer.concat(chunks);
}

test('files and folders unpack where asked', async () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'am-extract-')), 'out');
  const entries = await extractInto(await tarOf([{ name: 'sub', type: 'directory' }, { name: 'sub/a.txt', body: 'a' }, { name: 'b.txt', body: 'bb' }]), dir);
  assert.deepEqual(entries.map((e) => [e.name, e.type, e.size]), [['sub', 'directory', 0], ['sub/a.txt', 'file', 1], ['b.txt', 'file', 2]]);
  assert.equal(readFileSync(path.join(dir, 'sub/a.txt'), 'utf8'), 'a');
});

test('an archive written by an agent cannot reach outside: absolute names, .., links and devices refuse the whole archive', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'am-extract-'));
  const hostile: Array<Partial<Header> & { name: string; body?: string }> = [
    { name: '../escape.txt', body: 'x' },
    { name: '/etc/evil', body: 'x' },
    { name: 'a/../../escape.txt', body: 'x' },
    { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'hard', type: 'link', linkname: '../x' },
    { name: 'dev', type: 'character-device' },
  ];
  for (const h of hostile) {
    const dir = path.join(root, 'out');
    await assert.rejects(extractInto(await tarOf([{ name: 'ok.txt', body: 'ok' }, h]), dir), /reaches outside|absolute|only files and folders/, h.name);
    assert.equal(existsSync(path.join(dir, 'ok.txt')), false, `${h.name}: nothing written before the refusal`);
  }
  assert.equal(existsSync(path.join(root, 'escape.txt')), false);
  assert.equal(entryProblem({ name: 'fine/name.txt', type: 'file' }), undefined);
});
