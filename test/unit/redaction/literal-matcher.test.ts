import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiteralMatcher } from '../../../src/redaction/literal-matcher.ts';

function naiveOccurring(text: string, patterns: string[]): Set<number> {
  const s = new Set<number>();
  // Duplicates are one pattern, reported under its first index.
  patterns.forEach((p, i) => text.includes(p) && s.add(patterns.indexOf(p)));
  return s;
}

function naiveCovered(text: string, patterns: string[]): boolean[] {
  const covered = new Array<boolean>(text.length).fill(false);
  for (const p of patterns) for (let i = text.indexOf(p); i >= 0; i = text.indexOf(p, i + 1)) for (let j = i; j < i + p.length; j++) covered[j] = true;
  return covered;
}

function rng(seed: number) {
  let a = seed;
  return () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296);
}

function check(patterns: string[], texts: string[]) {
  const m = new LiteralMatcher(patterns);
  for (const text of texts) {
    assert.deepEqual(m.occurring(text), naiveOccurring(text, patterns));
    const covered = new Array<boolean>(text.length).fill(false);
    let last = -1;
    for (const r of m.find(text)) {
      assert.ok(r.start > last, 'regions are disjoint and ordered');
      last = r.end;
      for (let j = r.start; j < r.end; j++) covered[j] = true;
    }
    assert.deepEqual(covered, naiveCovered(text, patterns), JSON.stringify({ patterns, text }));
  }
}

test('matches what a naive search finds (small alphabet, overlaps, prefixes, suffixes)', () => {
  const r = rng(1);
  for (let round = 0; round < 200; round++) {
    const pick = (n: number) => Array.from({ length: n }, () => 'abc'[Math.floor(r() * 3)]).join('');
    const patterns = Array.from({ length: 1 + Math.floor(r() * 6) }, () => pick(1 + Math.floor(r() * 5)));
    check(patterns, Array.from({ length: 5 }, () => pick(Math.floor(r() * 40))));
  }
});

test('non-ASCII code units and surrogates', () => {
  check(['é€', '👋x', 'ab'], ['xé€y👋xab', '\ud83d', 'é€é€ab👋x']);
});

test('a pattern set too large for the dense table still matches (sparse path)', () => {
  const r = rng(7);
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const word = (n: number) => Array.from({ length: n }, () => alpha[Math.floor(r() * alpha.length)]).join('');
  const patterns = Array.from({ length: 5000 }, () => word(40));
  const text = `${word(100)}${patterns[17]}${word(50)}${patterns[4999]}${word(10)}`;
  const m = new LiteralMatcher(patterns);
  assert.deepEqual(m.occurring(text), new Set([17, 4999]));
  assert.equal(m.find(text).length, 2);
});
