// Promotion: whether a stored (provisional) output becomes durable workspace state. The
// artifactAccess gate decides, with the profile's built-in rules (profile-rules.ts, the
// builtin.outputs.* rows, plus every other artifactAccess rule of the profile type). Pure: the
// caller has read the output and the profile.
import type { OutputCandidate } from './requests.ts';
import { evaluateBuiltinRules, type ProfileInput } from './profile-rules.ts';

export const REVIEW_RULE = 'builtin.outputs.review';

export type PromotionReason = 'Admitted' | 'ReviewRequired' | 'PromotionRefused';

export interface Promotion {
  admitted: boolean;
  reason: PromotionReason;
  /** The rule that decided; for an admitted output, the gate (every rule allowed it). */
  rule: string;
  message: string;
}

export function decidePromotion(profile: ProfileInput | undefined, candidate: OutputCandidate): Promotion {
  // Fail closed: without the profile nothing says the output may be kept.
  if (!profile) return { admitted: false, reason: 'PromotionRefused', rule: 'builtin.profile.missing', message: `the profile is gone: output ${candidate.name} stays provisional` };
  const decisions = evaluateBuiltinRules(profile, { gate: 'artifactAccess', promotion: candidate });
  const denials = decisions.filter((d) => !d.allowed);
  // A rule's refusal outranks review: a reviewer cannot admit what the profile refuses.
  const refused = denials.find((d) => d.rule !== REVIEW_RULE);
  if (refused) return { admitted: false, reason: 'PromotionRefused', rule: refused.rule, message: refused.message };
  const review = denials[0];
  if (review) return { admitted: false, reason: 'ReviewRequired', rule: review.rule, message: review.message };
  if (decisions.length === 0) return { admitted: false, reason: 'PromotionRefused', rule: 'artifactAccess', message: 'no artifactAccess rule applies: nothing admits the output' };
  const profileName = profile.metadata?.name ?? '(unnamed)';
  return { admitted: true, reason: 'Admitted', rule: 'artifactAccess', message: `every artifactAccess rule of profile ${profileName} admits output ${candidate.name}` };
}
