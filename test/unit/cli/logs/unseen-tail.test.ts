// What a cut stream missed, taken from the record's tail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unseenTail } from '../../../../src/cli/logs/unseen-tail.ts';

test('the lines after the last printed ones, matched on the last three lines (repeated lines do not confuse it)', () => {
  assert.equal(unseenTail('a\nb\nx\nb\nx\n', 'a\nb\nx\nb\nx\nlast 1\nlast 2\n'), 'last 1\nlast 2\n');
  assert.equal(unseenTail('tick\ntick\ntick\n', 'tick\ntick\ntick\nend\n'), 'end\n');
});

test('everything printed already: nothing; nothing printed: the whole tail; no match: the whole tail, marked', () => {
  assert.equal(unseenTail('a\nb\n', 'a\nb\n'), '');
  assert.equal(unseenTail('', 'a\nb\n'), '[agent-machine: the output stream ended early; the last lines its record kept follow]\na\nb\n');
  assert.match(unseenTail('zzz\n', 'a\nb\n'), /^\[agent-machine: .*\]\na\nb\n$/);
  assert.equal(unseenTail('a\n', ''), '');
});
