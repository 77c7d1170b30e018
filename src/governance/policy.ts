// A gate's verdict: the profile type's built-in rules plus the profile's CEL rules for that
// gate. Allowed only when there is at least one decision and every decision allows.
import { evaluateCelRules, type CelEvaluationOptions } from './cel-rules.ts';
import { allAllowed, deny, type Decision } from './decision.ts';
import { evaluateBuiltinRules, type ProfileInput } from './profile-rules.ts';
import type { PolicyRequest } from './requests.ts';

export type PolicyResult = { allowed: boolean; decisions: Decision[] };

export function evaluatePolicy(profile: ProfileInput | undefined, request: PolicyRequest, options: CelEvaluationOptions): PolicyResult {
  if (profile === undefined || profile === null || typeof profile.spec !== 'object' || profile.spec === null) {
    return { allowed: false, decisions: [deny(request.gate, 'profile.missing', 'no profile: nothing is allowed without a policy profile')] };
  }
  const decisions = [...evaluateBuiltinRules(profile, request), ...evaluateCelRules(profile, request, options)];
  // Every known gate has universal built-in rules, so an empty list means the gate itself is unknown.
  if (decisions.length === 0) decisions.push(deny(String(request.gate), 'policy.gate', `${JSON.stringify(request.gate)} is not a policy gate`));
  return { allowed: allAllowed(decisions), decisions };
}
