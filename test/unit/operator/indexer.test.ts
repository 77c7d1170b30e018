import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Indexer } from '../../../src/operator/indexer.ts';

interface Thing {
  profile?: string;
  owners?: string[];
}
const byProfile = (t: Thing) => (t.profile ? [t.profile] : []);
const byOwner = (t: Thing) => t.owners ?? [];

test('put files an object under each value of each index; remove unfiles it everywhere', () => {
  const ix = new Indexer<Thing>();
  ix.define('profile', byProfile, []);
  ix.define('owner', byOwner, []);
  ix.put('n/a', { profile: 'p1', owners: ['u1', 'u2'] });
  ix.put('n/b', { profile: 'p1', owners: ['u2'] });
  assert.deepEqual([...ix.keys('profile', 'p1')], ['n/a', 'n/b']);
  assert.deepEqual([...ix.keys('owner', 'u1')], ['n/a']);
  assert.deepEqual([...ix.keys('owner', 'u2')], ['n/a', 'n/b']);
  ix.remove('n/a');
  assert.deepEqual([...ix.keys('profile', 'p1')], ['n/b']);
  assert.deepEqual([...ix.keys('owner', 'u1')], []);
  assert.deepEqual([...ix.keys('owner', 'u2')], ['n/b']);
  ix.remove('n/missing');
});

test('an update that changes the indexed value moves the key; no value files nothing', () => {
  const ix = new Indexer<Thing>();
  ix.define('profile', byProfile, []);
  ix.put('n/a', { profile: 'p1' });
  ix.put('n/a', { profile: 'p2' });
  assert.deepEqual([...ix.keys('profile', 'p1')], []);
  assert.deepEqual([...ix.keys('profile', 'p2')], ['n/a']);
  ix.put('n/a', {});
  assert.deepEqual([...ix.keys('profile', 'p2')], []);
});

test('an index defined late files what exists; redefining is a no-op with the same function, an error with another', () => {
  const ix = new Indexer<Thing>();
  ix.define('profile', byProfile, [['n/a', { profile: 'p1' }]]);
  assert.deepEqual([...ix.keys('profile', 'p1')], ['n/a']);
  ix.define('profile', byProfile, [['n/b', { profile: 'p1' }]]);
  assert.deepEqual([...ix.keys('profile', 'p1')], ['n/a'], 'a redefinition does not refile');
  assert.throws(() => ix.define('profile', (t) => [t.profile ?? ''], []), /already defined differently/);
  assert.throws(() => ix.keys('nope', 'x'), /no index nope/);
});

test('a value listed twice by one object is filed once', () => {
  const ix = new Indexer<Thing>();
  ix.define('owner', byOwner, []);
  ix.put('n/a', { owners: ['u1', 'u1'] });
  ix.remove('n/a');
  assert.equal(ix.keys('owner', 'u1').size, 0);
});

test('an update that keeps the indexed value keeps the key in its place (lookups stay in cache order)', () => {
  const ix = new Indexer<Thing>();
  ix.define('profile', byProfile, []);
  ix.put('n/a', { profile: 'p1' });
  ix.put('n/b', { profile: 'p1' });
  ix.put('n/a', { profile: 'p1', owners: ['u9'] });
  assert.deepEqual([...ix.keys('profile', 'p1')], ['n/a', 'n/b']);
});

test('an object the index function cannot read is filed nowhere, and does not stop the others', () => {
  const ix = new Indexer<Thing>();
  ix.define('strict', (t) => [t.profile!.toUpperCase()], []);
  ix.put('n/bad', {});
  ix.put('n/good', { profile: 'p' });
  assert.deepEqual([...ix.keys('strict', 'P')], ['n/good']);
});
