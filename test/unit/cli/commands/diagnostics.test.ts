import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTime } from '../../../../src/cli/commands/diagnostics.ts';

test('--since/--until take RFC 3339 times or durations back from now', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  assert.equal(parseTime('30m', now), '2026-06-01T11:30:00.000Z');
  assert.equal(parseTime('2h', now), '2026-06-01T10:00:00.000Z');
  assert.equal(parseTime('7d', now), '2026-05-25T12:00:00.000Z');
  assert.equal(parseTime('2026-05-01T00:00:00+02:00', now), '2026-04-30T22:00:00.000Z');
  for (const bad of ['yesterday', '5', '2026-05-01', '1w']) assert.throws(() => parseTime(bad, now), /RFC 3339/);
});
