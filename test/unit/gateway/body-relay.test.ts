import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { readWhole, relayBody, type ChunkStage } from '../../../src/gateway/body-relay.ts';
import { Masker } from '../../../src/gateway/credential-mask.ts';
import { SseRewriter } from '../../../src/gateway/sse-tools-filter.ts';

/** A server that relays `source()` through `stages` to each request; resolves with what a client read, and whether it ended cleanly. */
async function relayed(source: () => Readable, stages: () => ChunkStage[]): Promise<{ text: string; clean: boolean; done: number }> {
  let done = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    relayBody(source(), res, stages(), () => done++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await new Promise((resolve) => {
      const req = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => setImmediate(() => resolve({ text, clean: true, done })));
        res.on('error', () => resolve({ text, clean: false, done }));
      });
      // Cut off before the head went out: the request itself fails.
      req.on('error', () => resolve({ text: '', clean: false, done }));
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

test('chunks pass through every stage in order; what a stage held back at the end passes the later ones; done once', async () => {
  const secret = 'tk-0123456789';
  const r = await relayed(
    () => Readable.from([Buffer.from('data: {"a":"tk-0123'), Buffer.from('456789"}\n\n'), Buffer.from('data: {"result":{"tools":[{"name":"echo"},{"name":"get-env"}]}}')]),
    () => [new Masker([secret]), new SseRewriter(['echo'])],
  );
  assert.equal(r.clean, true);
  assert.ok(!r.text.includes(secret), r.text);
  assert.match(r.text, /"a":"\*{13}"/);
  assert.match(r.text, /"name":"echo"/, 'the last event, held until the end, was still filtered');
  assert.doesNotMatch(r.text, /get-env/);
  assert.equal(r.done, 1);
});

test('a stage that fails cuts the answer off (the client sees an error, not a clean end); done once', async () => {
  const failing: ChunkStage = {
    push: () => {
      throw new Error('too large');
    },
    end: () => undefined,
  };
  const r = await relayed(() => Readable.from([Buffer.from('x')]), () => [failing]);
  assert.equal(r.clean, false);
  assert.equal(r.done, 1);
});

test('readWhole: the whole body in a buffer of its own, or undefined past the bound (the source destroyed)', async () => {
  const chunk = Buffer.from('abc');
  const whole = await readWhole(Readable.from([chunk, Buffer.from('def')]), 10);
  assert.equal(whole!.toString(), 'abcdef');
  const one = await readWhole(Readable.from([chunk]), 10);
  one![0] = 0x2a;
  assert.equal(chunk.toString(), 'abc', 'masking the result in place leaves the source chunk alone');
  const big = new PassThrough();
  const read = readWhole(big, 4);
  big.write(Buffer.from('12345'));
  assert.equal(await read, undefined);
  assert.equal(big.destroyed, true);
});
