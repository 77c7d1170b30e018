import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileGlob, matchGlobs } from '../../../src/gateway/path-glob.ts';

test('* stays within a segment, ** crosses any number of them, the rest is literal', () => {
  const cases: [string, string, boolean][] = [
    ['/repos/*/issues', '/repos/acme/issues', true],
    ['/repos/*/issues', '/repos/acme/x/issues', false],
    ['/repos/*/issues', '/repos/acme/issues/1', false],
    ['/repos/**', '/repos', true],
    ['/repos/**', '/repos/a/b/c', true],
    ['/repos/**', '/reposx', false],
    ['/a/**/z', '/a/z', true],
    ['/a/**/z', '/a/b/c/z', true],
    ['/a/**/z', '/az', false],
    ['/v1.0/(x)', '/v1.0/(x)', true],
    ['/v1.0/x', '/v1X0/x', false],
  ];
  for (const [p, s, want] of cases) assert.equal(compileGlob(p).test(s), want, `${p} ${s}`);
  assert.equal(matchGlobs('/b', ['/a', '/b']), '/b');
  assert.equal(matchGlobs('/c', ['/a', '/b']), undefined);
});
