// The followed output's redaction: whole lines only, a key block whole, secrets never split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineRedactor, MAX_HELD_CHARS } from '../../../../src/cli/logs/line-redactor.ts';

const SECRET = 'hunter2-very-secret-value';

test('a secret value split across two chunks is still redacted: a partial line waits for its newline', () => {
  const r = new LineRedactor([SECRET]);
  assert.equal(r.push('first line\nthe value is hunter2-very'), 'first line\n');
  const out = r.push('-secret-value and more\n');
  assert.doesNotMatch(out, /hunter2/);
  assert.match(out, /^the value is \[REDACTED:secretValue\] and more\n$/);
});

test('a partial last line is printed at the end of the stream, redacted', () => {
  const r = new LineRedactor([SECRET]);
  assert.equal(r.push(`no newline ${SECRET}`), '');
  const out = r.end();
  assert.doesNotMatch(out, /hunter2/);
  assert.match(out, /^no newline \[REDACTED/);
});

test('credentials in known formats and key=value are redacted without knowing any value', () => {
  const r = new LineRedactor();
  const out = r.push('token=abcdefghijklmnop1234\nAuthorization: Bearer sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789\nplain\n');
  assert.doesNotMatch(out, /abcdefghijklmnop1234|sk-ant-api03/);
  assert.match(out, /plain\n$/);
});

test('a private key block is held until its END line, then redacted whole', () => {
  const r = new LineRedactor();
  const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n';
  assert.equal(r.push('before\n-----BEGIN PRIVATE KEY-----\n'), 'before\n');
  assert.equal(r.push(body), '', 'inside the block: held');
  const out = r.push('-----END PRIVATE KEY-----\nafter\n');
  assert.doesNotMatch(out, /MIIEvQIBADAN/);
  assert.match(out, /after\n$/);
});

test('held text is bounded: a line longer than MAX_HELD_CHARS is let go, redacted', () => {
  const r = new LineRedactor([SECRET]);
  const out = r.push(`${'a'.repeat(MAX_HELD_CHARS)} ${SECRET}`);
  assert.ok(out.length > MAX_HELD_CHARS);
  assert.doesNotMatch(out, /hunter2/);
});
