import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastUtf8Bytes, sanitizeLogText } from '../../../src/runtimes/log-text.ts';

test('sanitizeLogText strips terminal escapes and control characters except \\n and \\t', () => {
  const raw = [
    '\x1b[1;31mred\x1b[0m',
    '\x1b]0;window title\x07after-osc',
    '\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\',
    '\x1b(Bcharset',
    '\x1bPdcs-string\x1b\\after-dcs',
    'bell\x07 null\x00 del\x7f c1\u009b2Jx',
    'progress 10%\rprogress 100%',
    'tab\there',
    'bidi \u202eevil\u202c \u2066iso\u2069',
    'lone esc \x1b',
  ].join('\n');
  assert.equal(
    sanitizeLogText(Buffer.from(raw)),
    ['red', 'after-osc', 'link', 'charset', 'after-dcs', 'bell null del c1x', 'progress 10%progress 100%', 'tab\there', 'bidi evil iso', 'lone esc '].join('\n'),
  );
});

test('invalid UTF-8 becomes U+FFFD', () => {
  assert.equal(sanitizeLogText(Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3])), 'a\ufffd\ufffdb\ufffd');
});

test('sanitizeLogText and lastUtf8Bytes bound the UTF-8 size without splitting a character', () => {
  assert.equal(lastUtf8Bytes('abc€€', 7), 'c€€');
  assert.equal(lastUtf8Bytes('abc€€', 6), '€€');
  assert.equal(lastUtf8Bytes('abc€€', 5), '€');
  assert.equal(lastUtf8Bytes('abc€€', 2), '');
  assert.equal(lastUtf8Bytes('abc', 0), '');
  assert.equal(lastUtf8Bytes('abc', 10), 'abc');
  // Replacement characters are 3 bytes for 1 invalid byte: the bound still holds.
  const out = sanitizeLogText(Buffer.from([0xff, 0xff, 0xff, 0x41]), { maxBytes: 4 });
  assert.ok(Buffer.byteLength(out) <= 4);
  assert.equal(out, '\ufffdA');
});
