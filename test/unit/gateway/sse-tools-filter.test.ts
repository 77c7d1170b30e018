import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { rewriteEvent, SseToolsFilter } from '../../../src/gateway/sse-tools-filter.ts';

const list = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'echo' }, { name: 'get-env' }] } });

test('an event listing tools is rewritten; other events go out byte for byte', () => {
  assert.equal(rewriteEvent(`event: message\nid: 9\ndata: ${list}\n\n`, ['echo']), `event: message\nid: 9\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'echo' }] } })}\n\n`);
  for (const e of ['data: {"jsonrpc":"2.0","id":2,"result":{}}\r\n\r\n', ': ping\n\n', 'data: not json\n\n', 'id: 1\n\n']) assert.equal(rewriteEvent(e, ['echo']), e);
});

test('events split anywhere across chunks are reassembled', async () => {
  const text = `data: {"n":1}\n\nevent: message\ndata: ${list}\n\ndata: {"n":2}\n\n`;
  const bytes = Buffer.from(text);
  const chunks = [...Array(bytes.length).keys()].map((i) => bytes.subarray(i, i + 1));
  let out = '';
  for await (const c of Readable.from(chunks).pipe(new SseToolsFilter(['echo']))) out += c;
  assert.ok(out.includes('"n":1') && out.includes('"n":2'));
  assert.ok(!out.includes('get-env'), out);
});

test('an event larger than the bound ends the stream', async () => {
  const f = new SseToolsFilter(['echo'], 1024);
  await assert.rejects(async () => {
    for await (const _ of Readable.from([Buffer.alloc(4096, 0x61)]).pipe(f)) void _;
  }, /larger than/);
});
