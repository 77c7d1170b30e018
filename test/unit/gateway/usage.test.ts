import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseUsageFilter, tokensOf, usageFromJson } from '../../../src/gateway/usage.ts';

test('tokensOf reads both dialects and refuses what is not usage', () => {
  assert.equal(tokensOf({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }), 15);
  assert.equal(tokensOf({ prompt_tokens: 10, completion_tokens: 5 }), 15);
  assert.equal(tokensOf({ prompt_tokens: 7, total_tokens: 7 }), 7);
  assert.equal(tokensOf({ input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 2 }), 16);
  assert.equal(tokensOf({ total_tokens: -3 }), 0);
  assert.equal(tokensOf(null), undefined);
  assert.equal(tokensOf({ foo: 1 }), undefined);
});

test('usageFromJson finds the last usage object without parsing the whole body, and strings cannot fool it', () => {
  const body = JSON.stringify({ id: 'x', choices: [{ message: { content: 'the word "usage": {"total_tokens": 999} inside text' } }], usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 } });
  assert.deepEqual(usageFromJson(body), { tokens: 20 });
  const embeddings = JSON.stringify({ object: 'list', data: [{ embedding: Array.from({ length: 1536 }, (_, i) => i / 1536) }], usage: { prompt_tokens: 9, total_tokens: 9 } });
  assert.deepEqual(usageFromJson(embeddings), { tokens: 9 });
  const anthropic = JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 11, output_tokens: 3 } });
  assert.deepEqual(usageFromJson(anthropic), { tokens: 14 });
  assert.equal(usageFromJson('{"no":"usage"}'), undefined);
  assert.equal(usageFromJson('not json'), undefined);
  // Braces inside strings of the usage object itself.
  assert.deepEqual(usageFromJson('{"usage":{"note":"}{","total_tokens":4}}'), { tokens: 4 });
});

function chunks(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

const openAiStream = [
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\n',
  'data: [DONE]\n\n',
].join('');

test('an OpenAI stream split anywhere: usage counted, the usage-only chunk dropped only when asked', () => {
  for (const size of [1, 3, 7, 50, 10_000]) {
    const drop = new SseUsageFilter({ dropUsageChunks: true });
    let out = chunks(openAiStream, size).map((c) => drop.push(c)).join('') + drop.flush();
    assert.deepEqual(drop.usage, { tokens: 11 }, `size ${size}`);
    assert.ok(!out.includes('"usage"'), 'the usage chunk the client did not ask for is gone');
    assert.ok(out.includes('Hello') && out.endsWith('data: [DONE]\n\n'));

    const keep = new SseUsageFilter({ dropUsageChunks: false });
    out = chunks(openAiStream, size).map((c) => keep.push(c)).join('') + keep.flush();
    assert.equal(out, openAiStream);
    assert.deepEqual(keep.usage, { tokens: 11 });
  }
});

test('CRLF event separators and a last event without a blank line', () => {
  const f = new SseUsageFilter({ dropUsageChunks: false });
  const text = 'data: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata: {"choices":[],"usage":{"total_tokens":5}}';
  const out = f.push(text) + f.flush();
  assert.equal(out, text);
  assert.deepEqual(f.usage, { tokens: 5 });
});

test('an Anthropic stream: input from message_start, output from the last message_delta', () => {
  const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  const stream = [
    ev('message_start', { type: 'message_start', message: { usage: { input_tokens: 25, output_tokens: 1 } } }),
    ev('content_block_delta', { type: 'content_block_delta', delta: { type: 'text_delta', text: 'Hi' } }),
    ev('message_delta', { type: 'message_delta', usage: { output_tokens: 15 } }),
    ev('message_stop', { type: 'message_stop' }),
  ].join('');
  const f = new SseUsageFilter({ dropUsageChunks: true });
  const out = chunks(stream, 5).map((c) => f.push(c)).join('') + f.flush();
  assert.equal(out, stream, 'Anthropic events are never dropped');
  assert.deepEqual(f.usage, { tokens: 40 });
});

test('a stream without usage reports none', () => {
  const f = new SseUsageFilter({ dropUsageChunks: true });
  f.push('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
  assert.equal(f.usage, undefined);
});
