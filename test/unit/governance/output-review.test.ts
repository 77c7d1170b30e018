import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyReview, parseReview, REVIEW_ANNOTATION, REVIEWER_ANNOTATION, reviewAnnotations, reviewerRefusal, type OutputReview, type ReviewedOutput } from '../../../src/governance/output-review.ts';
import type { OutputCandidate } from '../../../src/governance/requests.ts';
import { profile } from './fixtures.ts';

const at = new Date('2026-12-08T10:00:00Z');
const held = (name: string, extra: Partial<ReviewedOutput> = {}): ReviewedOutput => ({
  name,
  stored: true,
  admitted: false,
  digest: `sha256:${'a'.repeat(64)}`,
  size: 2048,
  reference: `127.0.0.1:5000/agent-machine/ns/r@sha256:${'b'.repeat(64)}`,
  reason: 'ReviewRequired',
  rule: 'builtin.outputs.review',
  message: 'waits for review',
  ...extra,
});
const candidate = (name: string, extra: Partial<OutputCandidate> = {}): OutputCandidate => ({ name, size: 2048, contentTypes: ['text/plain'], ...extra });
const reviewing = profile('corporate_firewall', { outputs: { requireReview: true, allowedMediaTypes: ['text/*'] } });

function parsed(annotations: Record<string, string>): OutputReview {
  const p = parseReview(annotations);
  assert.ok(p && 'review' in p, JSON.stringify(p));
  return p.review;
}

test('parseReview reads what reviewAnnotations writes; no annotation is no review', () => {
  assert.equal(parseReview(undefined), undefined);
  assert.equal(parseReview({ other: 'x' }), undefined);
  const r = parsed(reviewAnnotations('bob', ['report'], ['scratch'], at));
  assert.deepEqual([r.reviewer, r.admit, r.reject], ['bob', ['report'], ['scratch']]);
  assert.match(r.observed, /^[0-9a-f]{32}$/);
  // Another moment is another review; another reviewer of the same text too.
  assert.notEqual(parsed(reviewAnnotations('bob', ['report'], ['scratch'], new Date(at.getTime() + 1))).observed, r.observed);
  const same = reviewAnnotations('bob', ['report'], ['scratch'], at);
  assert.notEqual(parsed({ ...same, [REVIEWER_ANNOTATION]: 'carol' }).observed, r.observed);
});

test('parseReview refuses malformed reviews with a reason, fingerprinted so each is answered once', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ [REVIEW_ANNOTATION]: '{"admit":["report"]}' }, /output-reviewer is missing/],
    [{ [REVIEWER_ANNOTATION]: 'bob', [REVIEW_ANNOTATION]: 'admit report' }, /is not JSON/],
    [{ [REVIEWER_ANNOTATION]: 'bob', [REVIEW_ANNOTATION]: '["report"]' }, /must be a JSON object/],
    [{ [REVIEWER_ANNOTATION]: 'bob', [REVIEW_ANNOTATION]: '{"admit":"report"}' }, /admit must be a list/],
    [{ [REVIEWER_ANNOTATION]: 'bob', [REVIEW_ANNOTATION]: '{"admit":["../etc"]}' }, /admit must be a list/],
    [{ [REVIEWER_ANNOTATION]: 'bob', [REVIEW_ANNOTATION]: '{"admit":[]}' }, /names no output/],
    [{ [REVIEWER_ANNOTATION]: 'bob', [REVIEW_ANNOTATION]: '{"admit":["a"],"reject":["a"]}' }, /output a is both admitted and rejected/],
  ];
  for (const [annotations, why] of cases) {
    const p = parseReview(annotations);
    assert.ok(p && 'error' in p, JSON.stringify(annotations));
    assert.match(p.error, why);
    assert.match(p.observed, /^[0-9a-f]{32}$/);
  }
});

test('separation of duties: the delegator may not review their own run', () => {
  assert.match(reviewerRefusal('alice', 'alice') ?? '', /alice delegated this execution and may not review its outputs \(separation of duties/);
  assert.equal(reviewerRefusal('bob', 'alice'), undefined);
});

test('a reviewer admits an output held for review: admitted, with who and when', () => {
  const review = parsed(reviewAnnotations('bob', ['report'], [], at));
  const { outputs, changes } = applyReview(reviewing, [held('report'), held('other')], review, new Map([['report', candidate('report')]]), at);
  assert.deepEqual(outputs[0], { ...held('report'), admitted: true, reason: 'ReviewAdmitted', rule: 'builtin.outputs.review', reviewedBy: 'bob', reviewedAt: at.toISOString(), message: "admitted by bob's review (every other artifactAccess rule admits it)" });
  assert.deepEqual(outputs[1], held('other'), 'an output the review does not name is untouched');
  assert.deepEqual(changes.map((c) => [c.name, c.verdict]), [['report', 'admitted']]);
});

test("a profile rule's refusal outranks the review, decided on the bytes read again", () => {
  const review = parsed(reviewAnnotations('bob', ['report'], [], at));
  const { outputs, changes } = applyReview(reviewing, [held('report')], review, new Map([['report', candidate('report', { contentTypes: ['text/plain', 'application/x-executable'] })]]), at);
  assert.deepEqual([outputs[0]!.admitted, outputs[0]!.reason, outputs[0]!.rule, outputs[0]!.reviewedBy], [false, 'PromotionRefused', 'builtin.outputs.media-types', undefined]);
  assert.match(outputs[0]!.message!, /the review by bob cannot admit it/);
  assert.deepEqual(changes.map((c) => c.verdict), ['refused']);
  assert.match(changes[0]!.why, /a review cannot admit what the profile refuses/);
  // The profile gone: nothing vouches for the output any more.
  const gone = applyReview(undefined, [held('report')], review, new Map([['report', candidate('report')]]), at);
  assert.deepEqual([gone.outputs[0]!.admitted, gone.outputs[0]!.rule], [false, 'builtin.profile.missing']);
});

test('a rejection keeps the output provisional with who rejected it; nothing else is reviewable', () => {
  const review = parsed(reviewAnnotations('bob', ['gone', 'refused', 'kept'], ['report', 'missing'], at));
  const outputs = [held('report'), held('refused', { stored: false, digest: undefined, reason: 'OutputTooLarge' }), held('kept', { admitted: true, reason: 'Admitted' }), held('gone')];
  const r = applyReview(reviewing, outputs, review, new Map(), at);
  assert.deepEqual([r.outputs[0]!.admitted, r.outputs[0]!.reason, r.outputs[0]!.reviewedBy], [false, 'ReviewRejected', 'bob']);
  assert.deepEqual(r.outputs.slice(1), outputs.slice(1), 'not stored, already admitted, or not read again: unchanged');
  const verdicts = Object.fromEntries(r.changes.map((c) => [c.name, c]));
  assert.equal(verdicts.report?.verdict, 'rejected');
  assert.match(verdicts.missing!.why, /the record has no output missing/);
  assert.match(verdicts.refused!.why, /never stored \(OutputTooLarge\)/);
  assert.match(verdicts.kept!.why, /admitted already/);
  assert.match(verdicts.gone!.why, /could not be read again/);
});
