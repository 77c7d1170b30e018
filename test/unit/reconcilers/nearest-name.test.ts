import { test } from 'node:test';
import assert from 'node:assert/strict';
import { didYouMean, editDistance, nearestName } from '../../../src/reconcilers/nearest-name.ts';

test('editDistance counts inserts, deletes and substitutions', () => {
  assert.equal(editDistance('personal', 'personal'), 0);
  assert.equal(editDistance('personel', 'personal'), 1);
  assert.equal(editDistance('persona', 'personal'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
});

test('nearestName suggests a close name, never a far one, and breaks ties alphabetically', () => {
  const names = ['personal', 'local-model', 'team-ci', 'airgapped'];
  assert.equal(nearestName('personel', names), 'personal');
  assert.equal(nearestName('Personal', names), 'personal', 'case differences count as typos');
  assert.equal(nearestName('local-modle', names), 'local-model');
  assert.equal(nearestName('prod', names), undefined);
  assert.equal(nearestName('team-cd', ['team-ce', 'team-cb']), 'team-cb');
  assert.equal(nearestName('personal', ['personal']), undefined, 'the name itself is no suggestion');
  assert.equal(nearestName('ab', ['xy']), undefined);
});

test('didYouMean is the message fragment, empty without a suggestion', () => {
  assert.equal(didYouMean('personel', ['personal']), ' (did you mean personal?)');
  assert.equal(didYouMean('zzz', ['personal']), '');
});
