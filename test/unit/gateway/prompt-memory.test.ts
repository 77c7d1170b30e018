import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PromptMemory, promptTexts } from '../../../src/gateway/prompt-memory.ts';

test('prompt texts of chat, completions, embeddings and Anthropic messages', () => {
  assert.deepEqual(
    promptTexts('/v1/chat/completions', {
      model: 'm',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Describe the picture' }, { type: 'image_url', image_url: { url: 'data:...' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"q":"secret plan"}' } }] },
      ],
      max_tokens: 10,
    }),
    ['You are terse.', 'Describe the picture', '{"q":"secret plan"}'],
  );
  assert.deepEqual(promptTexts('/v1/completions', { prompt: ['one', 'two'] }), ['one', 'two']);
  assert.deepEqual(promptTexts('/v1/embeddings', { input: 'embed me' }), ['embed me']);
  assert.deepEqual(promptTexts('/v1/embeddings', { input: [1, 2, 3] }), []);
  assert.deepEqual(
    promptTexts('/v1/messages', { system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user', content: 'Hello Claude' }, { role: 'user', content: [{ type: 'tool_result', content: 'result text' }] }] }),
    ['Be brief.', 'Hello Claude', 'result text'],
  );
});

test('per execution, forgotten on request, unions for several executions', () => {
  const m = new PromptMemory();
  const a = 'the first execution asked about the payroll export job';
  const b = 'kernel upgrade window for the staging cluster, second run';
  m.remember('uid-a', [a]);
  m.remember('uid-b', [b]);
  m.remember('uid-c', []);
  assert.equal(m.size, 2);
  assert.equal(m.matcher(['uid-a'])!.find(b).length, 0, 'one execution does not see the other');
  assert.equal(m.matcher(['uid-a'])!.find(a).length, 1);
  assert.equal(m.matcher(['uid-a', 'uid-b', undefined])!.find(`${a} / ${b}`).length, 2);
  assert.equal(m.matcher(['uid-c']), undefined);
  m.forget('uid-a');
  assert.equal(m.matcher(['uid-a']), undefined);
  assert.equal(m.size, 1);
});

test('texts sent again are still found; past the bound of remembered digests new texts are still fingerprinted', () => {
  const m = new PromptMemory();
  const system = 'you are the release assistant of the payments team';
  const history: string[] = [];
  for (let i = 0; i < 4200; i++) {
    // An agent resends its system prompt and its conversation so far with every call.
    history.push(`turn ${i}: move invoice batch ${i * 7919} to the archive bucket`);
    m.remember('uid-a', [system, ...history.slice(-3)]);
  }
  const matcher = m.matcher(['uid-a'])!;
  for (const text of [system, history[0]!, history[2048]!, history[4199]!]) assert.equal(matcher.find(`log: ${text}`).length, 1, text);
  assert.equal(matcher.find('nothing anyone sent through the gateway today').length, 0);
});
