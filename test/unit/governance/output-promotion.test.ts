import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decidePromotion } from '../../../src/governance/output-promotion.ts';
import { describeProfileRules, evaluateBuiltinRules, mediaTypeMatches } from '../../../src/governance/profile-rules.ts';
import type { OutputCandidate } from '../../../src/governance/requests.ts';
import { profile } from './fixtures.ts';

const report: OutputCandidate = { name: 'report', size: 2048, contentTypes: ['application/json', 'text/plain'] };

test('a profile without output rules admits what it stores', () => {
  const p = decidePromotion(profile('personal'), report);
  assert.deepEqual([p.admitted, p.reason, p.rule], [true, 'Admitted', 'artifactAccess']);
  assert.match(p.message, /personal-test admits output report/);
});

test('each outputs rule refuses what it does not allow, naming the rule', () => {
  const cases: Array<[object, OutputCandidate, string, RegExp]> = [
    [{ allowedNames: ['summary'] }, report, 'builtin.outputs.names', /output name report is not one of \[summary\]/],
    [{ maxBytes: 1024 }, report, 'builtin.outputs.size', /report is 2048 bytes, over the profile's 1024/],
    [{ allowedMediaTypes: ['text/*'] }, report, 'builtin.outputs.media-types', /holds \[application\/json\], not among the allowed \[text\/\*\]/],
    [{ allowedMediaTypes: ['text/plain', 'application/json'] }, { ...report, contentTypes: ['text/plain', 'application/x-executable'] }, 'builtin.outputs.media-types', /application\/x-executable/],
    [{ allowedMediaTypes: ['text/*'] }, { ...report, contentTypes: ['inode/symlink'] }, 'builtin.outputs.media-types', /inode\/symlink/],
  ];
  for (const [outputs, candidate, rule, message] of cases) {
    const p = decidePromotion(profile('corporate_firewall', { outputs }), candidate);
    assert.deepEqual([p.admitted, p.reason, p.rule], [false, 'PromotionRefused', rule], JSON.stringify(outputs));
    assert.match(p.message, message);
  }
});

test('the same rules admit what they allow', () => {
  const p = decidePromotion(profile('corporate_firewall', { outputs: { allowedNames: ['report'], maxBytes: 2048, allowedMediaTypes: ['text/*', 'application/json'] } }), report);
  assert.deepEqual([p.admitted, p.reason], [true, 'Admitted']);
});

test('requireReview keeps an allowed output provisional; a refusal outranks review', () => {
  const review = decidePromotion(profile('corporate_firewall', { outputs: { requireReview: true } }), report);
  assert.deepEqual([review.admitted, review.reason, review.rule], [false, 'ReviewRequired', 'builtin.outputs.review']);
  const refused = decidePromotion(profile('corporate_firewall', { outputs: { requireReview: true, maxBytes: 10 } }), report);
  assert.deepEqual([refused.reason, refused.rule], ['PromotionRefused', 'builtin.outputs.size']);
});

test('fail closed: no profile, or an unknown profile type, admits nothing', () => {
  assert.deepEqual([decidePromotion(undefined, report).admitted, decidePromotion(undefined, report).rule], [false, 'builtin.profile.missing']);
  const unknown = decidePromotion({ metadata: { name: 'x' }, spec: { ...profile('personal').spec, profileType: 'bogus' as never } }, report);
  assert.deepEqual([unknown.admitted, unknown.rule], [false, 'builtin.profile.type']);
});

test('at admission (no output yet) the outputs rules allow and say when they decide', () => {
  const decisions = evaluateBuiltinRules(profile('corporate_firewall', { outputs: { allowedNames: ['x'], requireReview: true } }), { gate: 'artifactAccess', outputs: ['/out'] });
  const outputsRules = decisions.filter((d) => d.rule.startsWith('builtin.outputs.'));
  assert.deepEqual(outputsRules.map((d) => [d.rule, d.allowed, d.message]), [
    ['builtin.outputs.names', true, 'checked when an output is promoted'],
    ['builtin.outputs.review', true, 'checked when an output is promoted'],
  ]);
});

test('status.effective.rules lists the outputs rules in force', () => {
  const lines = describeProfileRules(profile('corporate_firewall', { outputs: { allowedMediaTypes: ['text/*'], requireReview: true } }));
  assert.ok(lines.includes("artifactAccess builtin.outputs.media-types: outputs are admitted only when every entry's media type (read from its bytes) is in outputs.allowedMediaTypes [text/*]"), lines.join('\n'));
  assert.ok(lines.includes('artifactAccess builtin.outputs.review: no output is admitted without review: each stays provisional'));
  assert.ok(!lines.some((l) => l.includes('builtin.outputs.size')));
});

test('media type patterns: exact, or type/* for a whole type', () => {
  assert.equal(mediaTypeMatches('text/plain', 'text/*'), true);
  assert.equal(mediaTypeMatches('text/plain', 'text/plain'), true);
  assert.equal(mediaTypeMatches('textual/plain', 'text/*'), false);
  assert.equal(mediaTypeMatches('application/json', 'text/*'), false);
});
