import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { CredentialMask, heldBack } from '../../../src/gateway/credential-mask.ts';

async function through(chunks: string[], secrets: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const c of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new CredentialMask(secrets))) out.push(c.toString());
  return out;
}

test('every occurrence is masked to the same length, also when split across chunks', async () => {
  const secret = 'ghp_SECRETVALUE';
  for (let cut = 1; cut < secret.length; cut++) {
    const text = `a ${secret} b ${secret}`;
    const at = text.indexOf(secret) + cut;
    const out = (await through([text.slice(0, at), text.slice(at)], [secret])).join('');
    assert.equal(out, `a ${'*'.repeat(secret.length)} b ${'*'.repeat(secret.length)}`, `cut ${cut}`);
  }
});

test('only an end that could begin the credential is held back: events are not delayed', () => {
  const s = [Buffer.from('SECRET')];
  assert.equal(heldBack(Buffer.from('data: x\n\n'), s, 5), 0);
  assert.equal(heldBack(Buffer.from('data: SEC'), s, 5), 3);
});
