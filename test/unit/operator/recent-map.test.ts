import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentMap } from '../../../src/operator/recent-map.ts';

test('RecentMap forgets the least recently remembered entries beyond its size', () => {
  const m = new RecentMap<string, number>(3);
  m.remember('a', 1).remember('b', 2).remember('c', 3);
  m.remember('a', 10); // a is the newest now
  m.remember('d', 4);
  assert.deepEqual([...m.keys()], ['c', 'a', 'd']);
  assert.equal(m.get('a'), 10);
  assert.equal(m.has('b'), false, 'the oldest went');
});
