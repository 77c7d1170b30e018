import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PROMPT_WINDOWS, MIN_PROMPT_FRAGMENT, PromptFingerprints, removePrompts, unionMatcher } from '../../../src/redaction/prompt-matcher.ts';
import { redact } from '../../../src/redaction/redactor.ts';

const PROMPT = 'Summarise the incident report for the on-call engineer, and mention the database failover at 03:12 UTC.\nKeep it under five sentences.';

function fingerprints(...texts: string[]): PromptFingerprints {
  const f = new PromptFingerprints();
  for (const t of texts) f.add(t);
  return f;
}

const covered = (text: string, f: PromptFingerprints) => f.find(text).map((r) => text.slice(r.start, r.end));

test('the whole prompt is found where it is echoed, and only it', () => {
  const f = fingerprints(PROMPT);
  const log = `starting agent\n${PROMPT}\ndone in 3 s\n`;
  assert.deepEqual(covered(log, f), [PROMPT]);
});

test('a partial line of at least MIN_PROMPT_FRAGMENT characters is found; shorter is not', () => {
  const f = fingerprints(PROMPT);
  const part = PROMPT.slice(10, 10 + MIN_PROMPT_FRAGMENT + 7);
  assert.deepEqual(covered(`reply: You said: ${part}!`, f), [part]);
  const short = PROMPT.slice(10, 10 + MIN_PROMPT_FRAGMENT - 3); // a blank on each side makes 23
  assert.deepEqual(covered(`reply: ${short}`, f), []);
});

test('re-wrapped, JSON-escaped, upper-cased and echo -e forms are the same stream', () => {
  const f = fingerprints(PROMPT);
  const rewrapped = PROMPT.replace(/ /g, '\n  ');
  assert.equal(covered(rewrapped, f).join(''), rewrapped);
  const json = JSON.stringify({ msg: PROMPT });
  const inJson = covered(json, f);
  assert.equal(inJson.length, 1);
  assert.equal(JSON.parse(`"${inJson[0]}"`), PROMPT);
  assert.deepEqual(covered(PROMPT.toUpperCase(), f), [PROMPT.toUpperCase()]);
});

test('texts that only share short pieces with the prompt are left alone', () => {
  const f = fingerprints(PROMPT);
  assert.deepEqual(covered('the incident report is ready; the database is fine; under five sentences', f), []);
  assert.deepEqual(covered('', f), []);
  assert.deepEqual(new PromptFingerprints().find(PROMPT), []);
});

test('remembering the same text twice keeps one set of windows', () => {
  const f = fingerprints(PROMPT);
  const n = f.size;
  f.add(PROMPT);
  assert.equal(f.size, n);
  assert.ok(n > 0 && n <= PROMPT.length);
});

test('union of several executions, and removePrompts replaces with the digest', () => {
  const a = fingerprints(PROMPT);
  const b = fingerprints('A completely different prompt about quarterly revenue figures and forecasts');
  const both = unionMatcher([a, b])!;
  const text = `x ${PROMPT} y A completely different prompt about quarterly revenue z`;
  assert.equal(both.find(text).length, 2);
  const out = removePrompts(text, both);
  assert.match(out, /^x sha256:[0-9a-f]{64} len=\d+ y sha256:[0-9a-f]{64} len=\d+ z$/);
  assert.equal(removePrompts('nothing here', both), 'nothing here');
  assert.equal(unionMatcher([]), undefined);
});

test('the redactor removes known prompts from text, JSON lines and values, and says so', () => {
  const prompts = fingerprints(PROMPT);
  const part = PROMPT.slice(30, 80);
  const log = `step 1\n${PROMPT}\n{"level":"info","msg":"asked: ${part}"}\nreply: ${part}\n`;
  const r = redact(log, { prompts });
  assert.ok(r.ok);
  assert.ok(!r.text.includes(part.slice(0, MIN_PROMPT_FRAGMENT)), r.text);
  assert.match(r.text, /^step 1\nsha256:[0-9a-f]{64} len=\d+\n\{"level":"info","msg":"asked: sha256:[0-9a-f]{64} len=50"\}\nreply: sha256:[0-9a-f]{64} len=50\n$/);
  assert.equal(r.counts.prompt, 3);
  assert.equal(redact(r.text, { prompts }).text, r.text, 'idempotent');
  // Without prompts nothing changes.
  assert.equal(redact('plain words only', {}).text, 'plain words only');
});

test('bounded: past MAX_PROMPT_WINDOWS the set is saturated and the redactor fails closed', { timeout: 60_000 }, () => {
  const f = new PromptFingerprints();
  let i = 0;
  while (!f.saturated) f.add(`${i++} `.repeat(4096) + Math.random().toString(36).repeat(200));
  assert.ok(f.size <= MAX_PROMPT_WINDOWS);
  const r = redact('any text', { prompts: f });
  assert.equal(r.ok, false);
  assert.equal(r.text, '');
  assert.equal(removePrompts('any text', f), '[REDACTED:prompt]');
});

test('linear: a megabyte of log against a large prompt set', () => {
  const f = fingerprints(Array.from({ length: 4000 }, (_, i) => `word${i} other${i * 7}`).join(' '));
  const log = 'a'.repeat(1 << 20);
  const t = performance.now();
  assert.deepEqual(f.find(log), []);
  assert.ok(performance.now() - t < 2000);
});
