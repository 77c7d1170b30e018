// tailLog against a fake pods/log endpoint with the API's semantics: tailLines picks the last
// N lines, then limitBytes keeps the first B bytes of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastBytes, sanitizeLog, tailLog } from '../../../../src/runtimes/kubernetes/log-tail.ts';
import type { LogFetch } from '../../../../src/runtimes/kubernetes/log-tail.ts';

function endpoint(log: string): { fetch: LogFetch; calls: Array<[number, number]> } {
  const calls: Array<[number, number]> = [];
  const fetch: LogFetch = async (tailLines, limitBytes) => {
    calls.push([tailLines, limitBytes]);
    const lines = log.split(/(?<=\n)/);
    const window = lines.slice(Math.max(0, lines.length - tailLines)).join('');
    return Buffer.from(window, 'utf8').subarray(0, limitBytes).toString('utf8');
  };
  return { fetch, calls };
}

test('the last maxBytes of a log of ordinary lines', async () => {
  const log = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}\n`).join('');
  const { fetch, calls } = endpoint(log);
  const out = await tailLog(fetch, 1000);
  assert.equal(out, log.slice(log.length - 1000));
  assert.ok(calls.length <= 3, JSON.stringify(calls));
});

test('a short log comes back whole in one request', async () => {
  const { fetch, calls } = endpoint('hello\nworld\n');
  assert.equal(await tailLog(fetch, 4096), 'hello\nworld\n');
  assert.equal(calls.length, 1);
});

test('very long lines: fewer lines until the window fits, still the true end', async () => {
  const log = Array.from({ length: 200 }, (_, i) => `${i}:${'y'.repeat(3000)}\n`).join('') + 'the end\n';
  const { fetch } = endpoint(log);
  const out = await tailLog(fetch, 500);
  assert.equal(out, log.slice(log.length - 500));
  assert.ok(out.endsWith('the end\n'));
});

test('very short lines: more lines until maxBytes is reached', async () => {
  const log = 'a\n'.repeat(10_000);
  const { fetch } = endpoint(log);
  const out = await tailLog(fetch, 2000);
  assert.equal(out.length, 2000);
});

test('maxBytes 0 reads nothing; errors propagate to the caller', async () => {
  const { fetch, calls } = endpoint('x\n');
  assert.equal(await tailLog(fetch, 0), '');
  assert.equal(calls.length, 0);
  await assert.rejects(tailLog(async () => Promise.reject(new Error('no kubelet')), 10), /no kubelet/);
});

test('ANSI escapes and control characters are removed, newlines and tabs kept', () => {
  assert.equal(sanitizeLog('\x1b[31mred\x1b[0m\tok\r\nbell\x07 nul\x00 osc\x1b]0;title\x07end\n'), 'red\tok\nbell nul oscend\n');
});

test('lastBytes never starts inside a UTF-8 character', () => {
  const s = 'aé€😀';
  for (let n = 0; n <= Buffer.byteLength(s); n++) {
    const out = lastBytes(s, n);
    assert.ok(Buffer.byteLength(out) <= n);
    assert.ok(!out.includes('\uFFFD'), JSON.stringify(out));
    assert.ok(s.endsWith(out));
  }
});
