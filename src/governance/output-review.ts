// Output review: a person admits (or rejects) outputs a profile holds for review
// (outputs.requireReview). The review is two annotations on the ContainerExecutionRecord:
//   agentmachine.sourceos.dev/output-reviewer: <the reviewer's user name>
//   agentmachine.sourceos.dev/output-review:   {"admit":["report"],"reject":["scratch"],"at":"..."}
// The admission policy (manifests/admission/delegator-policy.yaml) lets a request change either
// only when the reviewer annotation is the requesting user, so the name is proven, not claimed:
// CEL has no JSON parser, which is why the name is an annotation of its own and not a field of the
// JSON. The controller then asks RBAC (verb `review` on containerexecutionrecords/outputs) and
// refuses the execution's own delegator (separation of duties). This file is the pure part: the
// parse, the refusals, and the re-decision per output, in which a profile rule's refusal still
// outranks any review.
import { createHash } from 'node:crypto';
import type { OutputCandidate } from './requests.ts';
import type { ProfileInput } from './profile-rules.ts';
import { decidePromotion, REVIEW_RULE } from './output-promotion.ts';

export const REVIEW_ANNOTATION = 'agentmachine.sourceos.dev/output-review';
export const REVIEWER_ANNOTATION = 'agentmachine.sourceos.dev/output-reviewer';

/** The slice of a status.outputs entry a review reads and writes. */
export interface ReviewedOutput {
  name: string;
  stored?: boolean;
  admitted: boolean;
  digest?: string;
  size?: number;
  reference?: string;
  reason?: string;
  rule?: string;
  message?: string;
  reviewedBy?: string;
  reviewedAt?: string;
}

export interface OutputReview {
  reviewer: string;
  admit: string[];
  reject: string[];
  /** A fingerprint of both annotations: each distinct review is decided (and audited) once. */
  observed: string;
}

export type ParsedReview = { review: OutputReview } | { error: string; observed: string; reviewer: string };

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAMES = 8;

/** undefined: no review asked. */
export function parseReview(annotations: Record<string, string> | undefined): ParsedReview | undefined {
  const raw = annotations?.[REVIEW_ANNOTATION];
  const reviewer = annotations?.[REVIEWER_ANNOTATION] ?? '';
  if (raw === undefined) return undefined;
  const observed = createHash('sha256').update(`${reviewer}\u0000${raw}`).digest('hex').slice(0, 32);
  const fail = (error: string): ParsedReview => ({ error, observed, reviewer });
  if (reviewer === '') return fail(`annotation ${REVIEWER_ANNOTATION} is missing: a review names its reviewer`);
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return fail(`annotation ${REVIEW_ANNOTATION} is not JSON ({"admit":[...],"reject":[...]})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(`annotation ${REVIEW_ANNOTATION} must be a JSON object ({"admit":[...],"reject":[...]})`);
  const lists: Record<'admit' | 'reject', string[]> = { admit: [], reject: [] };
  for (const key of ['admit', 'reject'] as const) {
    const v = (body as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length > MAX_NAMES || !v.every((n) => typeof n === 'string' && NAME.test(n) && n.length <= 63)) {
      return fail(`${key} must be a list of at most ${MAX_NAMES} output names`);
    }
    lists[key] = [...new Set(v as string[])];
  }
  if (lists.admit.length + lists.reject.length === 0) return fail('the review names no output to admit or reject');
  const both = lists.admit.filter((n) => lists.reject.includes(n));
  if (both.length > 0) return fail(`output ${both.join(', ')} is both admitted and rejected`);
  return { review: { reviewer, admit: lists.admit, reject: lists.reject, observed } };
}

/** Separation of duties: who delegated the run may not vouch for what it produced. */
export function reviewerRefusal(reviewer: string, delegator: string): string | undefined {
  if (reviewer === delegator) return `${reviewer} delegated this execution and may not review its outputs (separation of duties: another reviewer must)`;
  return undefined;
}

export type ReviewVerdict = 'admitted' | 'rejected' | 'refused' | 'unchanged';

export interface ReviewChange {
  name: string;
  verdict: ReviewVerdict;
  why: string;
}

export interface AppliedReview<O extends ReviewedOutput> {
  outputs: O[];
  changes: ReviewChange[];
}

/**
 * Re-decides the named outputs with the review. An admitted output needs its candidate as read
 * again from the registry (candidates by name; a name without one is not re-decided). Pure.
 */
export function applyReview<O extends ReviewedOutput>(profile: ProfileInput | undefined, outputs: readonly O[], review: OutputReview, candidates: ReadonlyMap<string, OutputCandidate>, at: Date): AppliedReview<O> {
  const when = at.toISOString();
  const changes: ReviewChange[] = [];
  const byName = new Map(outputs.map((o) => [o.name, o]));
  for (const name of [...review.admit, ...review.reject]) {
    if (!byName.has(name)) changes.push({ name, verdict: 'unchanged', why: `the record has no output ${name}` });
  }
  const next = outputs.map((o): O => {
    const wantsAdmit = review.admit.includes(o.name);
    if (!wantsAdmit && !review.reject.includes(o.name)) return o;
    const note = (verdict: ReviewVerdict, why: string) => changes.push({ name: o.name, verdict, why });
    if (o.stored === false || o.digest === undefined) {
      note('unchanged', `output ${o.name} was never stored (${o.reason ?? 'refused'}): there is nothing to review`);
      return o;
    }
    if (o.admitted) {
      note('unchanged', `output ${o.name} is admitted already: a review neither admits it again nor takes it back`);
      return o;
    }
    const reviewed = { reviewedBy: review.reviewer, reviewedAt: when };
    if (!wantsAdmit) {
      note('rejected', `${review.reviewer} rejected output ${o.name}: it stays provisional and retention deletes it`);
      return { ...o, ...reviewed, admitted: false, reason: 'ReviewRejected', rule: REVIEW_RULE, message: `rejected by ${review.reviewer}: provisional until retention deletes it` };
    }
    const candidate = candidates.get(o.name);
    if (!candidate) {
      note('unchanged', `output ${o.name} could not be read again from the registry (retention deleted it?): not re-decided`);
      return o;
    }
    // The profile decides again, as it stands now: a rule's refusal outranks the review.
    const promotion = decidePromotion(profile, candidate);
    if (promotion.reason === 'PromotionRefused') {
      note('refused', `a review cannot admit what the profile refuses: ${promotion.message} (${promotion.rule})`);
      return { ...o, admitted: false, reason: 'PromotionRefused', rule: promotion.rule, message: `${promotion.message}; the review by ${review.reviewer} cannot admit it`.slice(0, 1024) };
    }
    note('admitted', `${review.reviewer} admitted output ${o.name}`);
    return { ...o, ...reviewed, admitted: true, reason: 'ReviewAdmitted', rule: REVIEW_RULE, message: `admitted by ${review.reviewer}'s review (every other artifactAccess rule admits it)` };
  });
  return { outputs: next, changes };
}

/** The annotations a reviewer writes (the CLI's half of parseReview); `at` makes each review distinct. */
export function reviewAnnotations(reviewer: string, admit: readonly string[], reject: readonly string[], at: Date): Record<string, string> {
  return { [REVIEWER_ANNOTATION]: reviewer, [REVIEW_ANNOTATION]: JSON.stringify({ admit, reject, at: at.toISOString() }) };
}
