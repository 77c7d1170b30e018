import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, extract } from 'tar-stream';
import { relativeToOutput, strip } from '../../../src/outputs/output-archive.ts';

async function tarOf(entries: Array<{ name: string; type?: 'directory' | 'file'; body?: string }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  for (const e of entries) p.entry({ name: e.name, type: e.type ?? 'file' }, e.body ?? '');
  p.finalize();
  await new Promise<void>((r) => p.on('end', () => r()));
  return Buffer.concat(chunks);
}

async function names(tar: Buffer): Promise<Array<[string, string]>> {
  const ex = extract();
  const out: Array<[string, string]> = [];
  ex.on('entry', (h, s, next) => {
    let b = '';
    s.on('data', (c) => (b += String(c)));
    s.on('end', () => (out.push([h.name, b]), next()));
  });
  const done = new Promise<void>((r) => ex.on('finish', () => r()));
  ex.end(tar);
  await done;
  return out;
}

test("docker's and podman's archives of an output become the same: entries relative to the output, no root entry", async () => {
  const docker = await tarOf([{ name: 'out/', type: 'directory' }, { name: 'out/report.txt', body: 'r' }, { name: 'out/sub/', type: 'directory' }, { name: 'out/sub/n.txt', body: 'n' }]);
  const podman = await tarOf([{ name: '/', type: 'directory' }, { name: '/report.txt', body: 'r' }, { name: '/sub', type: 'directory' }, { name: '/sub/n.txt', body: 'n' }]);
  const expected = [['report.txt', 'r'], ['sub', ''], ['sub/n.txt', 'n']];
  assert.deepEqual(await names(await relativeToOutput(docker, '/out')), expected);
  assert.deepEqual(await names(await relativeToOutput(podman, '/out/')), expected);
});

test('strip: the root goes, a file named like the output under a podman root keeps its name', () => {
  assert.equal(strip('out', 'out'), '');
  assert.equal(strip('out/', 'out'), '');
  assert.equal(strip('/', 'out'), '');
  assert.equal(strip('out/a.txt', 'out'), 'a.txt');
  assert.equal(strip('/a.txt', 'out'), 'a.txt');
  assert.equal(strip('/out/a.txt', 'out'), 'out/a.txt', 'podman: a folder named out inside the output');
});
