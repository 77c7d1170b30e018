// The shared "may this delegation do this?" step every reconciler runs before acting:
//   1. the admission policy that proves who asked is installed (else AuthorityUnverifiable);
//   2. spec.authority holds: present, unexpired, scopes cover the operation and tools;
//   3. the tenant the object claims is its namespace's (label agentmachine.sourceos.dev/tenant;
//      governance/tenancy.ts), for namespaced objects;
//   4. RBAC: the delegator may use the profile, grant the tool, ... (SubjectAccessReview, with
//      the groups recorded in spec.authority.groups when the admission policy vouches for them).
// Checks run in that order and stop at the first failure, so a denied object costs no
// access reviews. Every check leaves a decision for status and the audit log; a check that
// got no answer throws AuthorizationUnavailableError instead (retried, nothing decided).
import type { Authority, OperationType } from '../api/types.generated.ts';
import { permissions, type AccessRequest, type AccessReviewer } from '../governance/access-review.ts';
import { authorityHolds, checkAuthority, AUTHORITY_GATE } from '../governance/authority.ts';
import { allow, deny, firstDenial, type Decision } from '../governance/decision.ts';
import { tenantDecision } from '../governance/tenancy.ts';
import { ADMISSION_POLICY_NAME, type AdmissionGuard } from './admission-guard.ts';
import type { NamespaceTenants } from './namespace-tenants.ts';

export type AuthorizationReason =
  | 'Authorized'
  | 'AuthorityUnverifiable'
  | 'AuthorityMissing'
  | 'AuthorityExpired'
  | 'ScopeNotCovered'
  | 'PermissionDenied'
  | 'TenantMismatch';

export interface AuthorizationOutcome {
  allowed: boolean;
  reason: AuthorizationReason;
  message: string;
  decisions: Decision[];
}

export type Permission = Omit<AccessRequest, 'user' | 'groups'>;

export interface AuthorizationRequest {
  authority: Authority | undefined;
  operationType: OperationType;
  toolRefs?: string[];
  /** What RBAC must allow the delegator. */
  permissions: Permission[];
  /** A namespaced object's namespace and the tenant it claims (spec.tenant). */
  tenancy?: { namespace: string; tenant: string | undefined };
  now: Date;
}

const REASON_BY_RULE: Record<string, AuthorizationReason> = {
  'authority.missing': 'AuthorityMissing',
  'authority.expired': 'AuthorityExpired',
  'authority.scope': 'ScopeNotCovered',
  'authority.tool-scope': 'ScopeNotCovered',
};

/**
 * The admission policy or an access review could not be asked (API server away or failing).
 * Thrown rather than decided: a transient outage must not become a permanent denial (a Denied
 * execution never runs); the reconcile fails, acts on nothing (fail closed) and is retried.
 */
export class AuthorizationUnavailableError extends Error {
  override readonly name = 'AuthorizationUnavailableError';
}

export class Authorizer {
  readonly #guard: AdmissionGuard;
  readonly #reviewer: AccessReviewer;
  readonly #tenants: NamespaceTenants;

  constructor(guard: AdmissionGuard, reviewer: AccessReviewer, tenants: NamespaceTenants) {
    this.#guard = guard;
    this.#reviewer = reviewer;
    this.#tenants = tenants;
  }

  /**
   * Whether the request is allowed by answers all remembered now (the same caches, the same
   * checks as authorize, in the same order), without a promise or a decision list: true only
   * when every step allows. False means "ask authorize()" (something is not remembered, or
   * denies), never "denied". The gateway asks this on every call first.
   */
  allowsFromMemory(request: AuthorizationRequest): boolean {
    const admission = this.#guard.remembered();
    if (!admission || admission.unavailable || !admission.ok) return false;
    if (!authorityHolds(request.authority, request)) return false;
    if (request.tenancy) {
      const { namespace, tenant } = request.tenancy;
      const ns = this.#tenants.remembered(namespace);
      // tenantDecision allows exactly this; its message is not needed here.
      if (!ns || !ns.found || ns.tenant !== tenant) return false;
    }
    const user = request.authority!.delegator;
    const groups = admission.vouchesForGroups ? request.authority!.groups : undefined;
    for (const p of request.permissions) {
      const r = this.#reviewer.rememberedFor(p, user, groups);
      if (!r || !r.allowed || r.unavailable) return false;
    }
    return true;
  }

  async authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    const admission = await this.#guard.check();
    if (admission.unavailable) throw new AuthorizationUnavailableError(admission.message);
    if (!admission.ok) {
      const d = deny(AUTHORITY_GATE, 'authority.admission-policy', admission.message);
      return { allowed: false, reason: 'AuthorityUnverifiable', message: admission.message, decisions: [d] };
    }
    const decisions = checkAuthority(request.authority, request);
    const denied = firstDenial(decisions);
    if (denied) {
      return { allowed: false, reason: REASON_BY_RULE[denied.rule] ?? 'AuthorityMissing', message: denied.message, decisions };
    }
    if (request.tenancy) {
      const { namespace, tenant } = request.tenancy;
      const ns = await this.#tenants.of(namespace);
      if (!ns.found && ns.unavailable) throw new AuthorizationUnavailableError(ns.message);
      const d = tenantDecision(namespace, tenant, ns);
      decisions.push(d);
      if (!d.allowed) return { allowed: false, reason: 'TenantMismatch', message: d.message, decisions };
    }
    const delegator = request.authority!.delegator;
    // The groups admission saw, when the installed policy vouches for them (admission-guard.ts).
    const groups = admission.vouchesForGroups ? request.authority!.groups : undefined;
    const reviews = await Promise.all(
      request.permissions.map(async (p) => ({ p, result: await this.#reviewer.review({ ...p, user: delegator, ...(groups ? { groups } : {}) }) })),
    );
    const unanswered = reviews.find((r) => r.result.unavailable);
    if (unanswered) throw new AuthorizationUnavailableError(unanswered.result.reason);
    for (const { p, result } of reviews) {
      const rule = `rbac.${p.verb}.${p.resource}`;
      decisions.push(result.allowed ? allow(AUTHORITY_GATE, rule, `${delegator} may ${p.verb} ${p.resource} ${p.name ?? ''}`.trim()) : deny(AUTHORITY_GATE, rule, result.reason));
    }
    const rbacDenied = firstDenial(decisions);
    if (rbacDenied) return { allowed: false, reason: 'PermissionDenied', message: rbacDenied.message, decisions };
    return {
      allowed: true,
      reason: 'Authorized',
      message: `delegation from ${delegator} to ${request.authority!.delegate} verified`,
      decisions,
    };
  }

  /**
   * May `reviewer` review the outputs of this record? Only when the admission policy proves who
   * wrote the review (vouchesForReviews) and RBAC allows them `review` on
   * containerexecutionrecords/outputs. RBAC bound to the reviewer's groups does not count: the
   * review records only a name. Throws AuthorizationUnavailableError when nothing could be asked.
   */
  async authorizeReviewer(reviewer: string, record: string, namespace: string): Promise<ReviewerOutcome> {
    const admission = await this.#guard.check();
    if (admission.unavailable) throw new AuthorizationUnavailableError(admission.message);
    if (!admission.ok || !admission.vouchesForReviews) {
      const why = admission.ok ? `admission policy ${ADMISSION_POLICY_NAME} does not check who writes output reviews (update manifests/admission)` : admission.message;
      return { allowed: false, reason: 'ReviewUnverifiable', message: `the reviewer cannot be verified: ${why}` };
    }
    const result = await this.#reviewer.review({ ...permissions.reviewOutputs(record, namespace), user: reviewer });
    if (result.unavailable) throw new AuthorizationUnavailableError(result.reason);
    return result.allowed ? { allowed: true, reason: 'ReviewerAuthorized', message: `${reviewer} may review outputs of ${record}` } : { allowed: false, reason: 'ReviewPermissionDenied', message: result.reason };
  }
}

export interface ReviewerOutcome {
  allowed: boolean;
  reason: 'ReviewerAuthorized' | 'ReviewUnverifiable' | 'ReviewPermissionDenied';
  message: string;
}
