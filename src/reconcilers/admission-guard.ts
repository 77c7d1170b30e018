// "Who asked" is answered by the ValidatingAdmissionPolicy in manifests/admission: without it,
// anyone could claim to be any delegator. The controller therefore refuses to act on a
// delegation unless that policy and its Deny binding are installed (reason
// AuthorityUnverifiable), and re-checks periodically so removing the policy stops the
// controller from trusting new objects.
import { AnswerCache } from '../governance/answer-cache.ts';
import { REVIEWER_ANNOTATION } from '../governance/output-review.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import { describeError, isNotFound, isTransient } from '../operator/kube-clients.ts';

export const ADMISSION_POLICY_NAME = 'agent-machine-delegator-is-requester';

export interface AdmissionCheck {
  ok: boolean;
  message: string;
  /**
   * The installed policy accepts only groups the requester is in for spec.authority.groups,
   * so recorded groups may be counted. An older policy without that validation would let
   * anyone claim any group: the groups are then ignored (fail closed).
   */
  vouchesForGroups?: boolean;
  /**
   * The installed policy lets a request set the output-review annotations only as the reviewer
   * it names (governance/output-review.ts). An older policy would let anyone sign as anyone:
   * reviews are then refused.
   */
  vouchesForReviews?: boolean;
  /** The policy could not be read (network, API server error): nothing is known either way. */
  unavailable?: boolean;
}

export class AdmissionGuard {
  readonly #clients: KubeClients;
  readonly #answers: AnswerCache<AdmissionCheck>;

  constructor(clients: KubeClients, opts: { ttlMs?: number } = {}) {
    this.#clients = clients;
    // Not knowing is not remembered: an API server that is back must be asked again at once,
    // not answered "unverifiable" for the rest of the TTL.
    this.#answers = new AnswerCache<AdmissionCheck>({ ttlMs: opts.ttlMs ?? 10_000, keep: (r) => !r.unavailable });
  }

  /** The remembered answer, if fresh (no request, no promise). */
  remembered(): AdmissionCheck | undefined {
    return this.#answers.peek(ADMISSION_POLICY_NAME);
  }

  check(): Promise<AdmissionCheck> {
    return this.#answers.answer(ADMISSION_POLICY_NAME, () => this.#lookup());
  }

  async #lookup(): Promise<AdmissionCheck> {
    const api = this.#clients.admissionRegistration;
    try {
      const policy = await api.readValidatingAdmissionPolicy({ name: ADMISSION_POLICY_NAME });
      if (policy.spec?.failurePolicy !== 'Fail') {
        return { ok: false, message: `admission policy ${ADMISSION_POLICY_NAME} must have failurePolicy Fail` };
      }
      const binding = await api.readValidatingAdmissionPolicyBinding({ name: ADMISSION_POLICY_NAME });
      if (binding.spec?.policyName !== ADMISSION_POLICY_NAME || !binding.spec?.validationActions?.includes('Deny')) {
        return { ok: false, message: `admission policy binding ${ADMISSION_POLICY_NAME} must bind the policy with validationActions [Deny]` };
      }
      const vouchesForGroups = (policy.spec?.validations ?? []).some((v) => v.expression.includes('authority.groups.all(') && v.expression.includes('request.userInfo.groups'));
      const reviewerVariables = (policy.spec?.variables ?? []).filter((v) => v.expression.includes(`'${REVIEWER_ANNOTATION}' in object.metadata.annotations`)).map((v) => v.name);
      const vouchesForReviews = (policy.spec?.validations ?? []).some((v) => reviewerVariables.some((name) => v.expression.includes(`variables.${name} == request.userInfo.username`)));
      return { ok: true, message: `admission policy ${ADMISSION_POLICY_NAME} is installed and enforced`, vouchesForGroups, vouchesForReviews };
    } catch (err) {
      const what = isNotFound(err) ? 'is not installed (kubectl apply -k manifests/)' : `could not be checked: ${describeError(err)}`;
      return { ok: false, message: `admission policy ${ADMISSION_POLICY_NAME} ${what}; delegations cannot be verified`, ...(isTransient(err) ? { unavailable: true } : {}) };
    }
  }
}
