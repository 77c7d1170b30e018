// May the delegator delegate this? RBAC on the API server is the source of truth, asked through
// SubjectAccessReview on virtual resources of our API group (cert-manager's `approve` on
// `signers` is the precedent). This is the only file in governance/ that talks to the network.
//
// Groups: a SubjectAccessReview without groups only matches RBAC bound to the user itself. The
// delegator's groups are counted when the delegation records them (spec.authority.groups, which
// the admission policy accepts only when the requester is in every one: the groups admission
// saw); otherwise only the groups Kubernetes derives from the name alone are added (see
// impliedGroups), and denials say so.
import { AuthorizationV1Api, type KubeConfig, type V1SubjectAccessReview, type V1SubjectAccessReviewStatus } from '@kubernetes/client-node';
import { GROUP } from '../api/group.ts';
import { isTransient } from '../operator/kube-clients.ts';
import { AnswerCache, type AnswerCacheOptions } from './answer-cache.ts';

export const ACCESS_REVIEW_GROUP = GROUP;

export type AccessRequest = {
  user: string;
  /** The delegator's groups when known; see the file comment for what happens without them. */
  groups?: readonly string[];
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
};

/** unavailable: no answer was had (network, timeout, 5xx, 429), so nothing was decided. */
export type AccessResult = { allowed: boolean; reason: string; unavailable?: true };

/** The slice of AuthorizationV1Api this file uses, so tests and callers can hand in any client. */
export type SubjectAccessReviewApi = {
  createSubjectAccessReview(param: { body: V1SubjectAccessReview }): Promise<V1SubjectAccessReview>;
};

// The delegable permissions, in one place so RBAC docs, manifests and checks agree.
export const permissions = {
  // What applying the profile directly would need. Checked by the controller too, because a
  // broker may apply a profile on behalf of a delegator the API server never authorized.
  createProfile: () => ({ verb: 'create', group: GROUP, resource: 'agentmachineprofiles' }),
  // Profiles are cluster-scoped; with a namespace, a RoleBinding there can also grant `use`.
  useProfile: (profile: string, namespace?: string) => ({ verb: 'use', group: GROUP, resource: 'agentmachineprofiles', name: profile, namespace }),
  grantTool: (tool: string, namespace?: string) => ({ verb: 'grant', group: GROUP, resource: 'tools', name: tool, namespace }),
  bindModelProvider: (binding: string, namespace: string) => ({ verb: 'bind', group: GROUP, resource: 'modelproviderbindings', name: binding, namespace }),
  // What an execution's delegator needs to send model calls through someone's binding.
  useModelProvider: (binding: string, namespace: string) => ({ verb: 'use', group: GROUP, resource: 'modelproviderbindings', name: binding, namespace }),
  // A tool connector's credential: the delegator must be able to read the Secret it hands the gateway.
  getSecret: (secret: string, namespace: string) => ({ verb: 'get', group: '', resource: 'secrets', name: secret, namespace }),
  exportDiagnostics: (bundle: string, namespace: string) => ({ verb: 'export', group: GROUP, resource: 'agentmachinediagnosticbundles', name: bundle, namespace }),
  // Not delegable: what a reviewer needs to admit or reject a container record's outputs.
  reviewOutputs: (record: string, namespace: string) => ({ verb: 'review', group: GROUP, resource: 'containerexecutionrecords', subresource: 'outputs', name: record, namespace }),
} as const;

const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):[^:]+$/;

/**
 * Groups Kubernetes assigns from the user name alone, so adding them claims nothing the
 * authenticator would not: service accounts are always in `system:serviceaccounts` and
 * `system:serviceaccounts:<ns>`, and every authenticated user is in `system:authenticated`.
 */
export function impliedGroups(user: string): string[] {
  if (user === 'system:anonymous') return ['system:unauthenticated'];
  const sa = SERVICE_ACCOUNT.exec(user);
  if (sa) return ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`, 'system:authenticated'];
  return ['system:authenticated'];
}

export function buildSubjectAccessReview(request: AccessRequest): V1SubjectAccessReview {
  const groups = [...new Set([...(request.groups ?? []), ...impliedGroups(request.user)])];
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: request.user,
      groups,
      resourceAttributes: {
        verb: request.verb,
        group: request.group,
        resource: request.resource,
        ...(request.subresource !== undefined ? { subresource: request.subresource } : {}),
        ...(request.name !== undefined ? { name: request.name } : {}),
        ...(request.namespace !== undefined ? { namespace: request.namespace } : {}),
      },
    },
  };
}

/** For condition messages: `user "alice" may not grant tools "mcp.github/create_issue" (agentmachine.sourceos.dev)`. */
export function describeMissingPermission(request: Pick<AccessRequest, 'user' | 'verb' | 'group' | 'resource' | 'subresource' | 'name' | 'namespace'>): string {
  const resource = request.subresource !== undefined ? `${request.resource}/${request.subresource}` : request.resource;
  const target = request.name !== undefined ? `${resource} ${JSON.stringify(request.name)}` : resource;
  const where = request.namespace !== undefined ? ` in namespace ${JSON.stringify(request.namespace)}` : '';
  const group = request.group === '' ? 'core' : request.group;
  return `user ${JSON.stringify(request.user)} may not ${request.verb} ${target}${where} (${group})`;
}

/** Only an explicit `allowed: true` without `denied` counts; anything else, including no status, is a denial. */
export function interpretReview(request: AccessRequest, status: V1SubjectAccessReviewStatus | undefined): AccessResult {
  if (status?.allowed === true && status.denied !== true) {
    return { allowed: true, reason: status.reason ? `allowed by RBAC: ${status.reason}` : 'allowed by RBAC' };
  }
  const parts = [describeMissingPermission(request)];
  if (status?.reason) parts.push(`authorizer: ${status.reason}`);
  if (status?.evaluationError) parts.push(`evaluation error: ${status.evaluationError}`);
  if (status === undefined) parts.push('the review returned no status');
  if (request.groups === undefined) parts.push("the delegation records no groups (spec.authority.groups), so only RBAC bound to the user itself was checked");
  return { allowed: false, reason: parts.join('; ') };
}

export type AccessReviewerOptions = { timeoutMs?: number; cache?: Partial<Omit<AnswerCacheOptions<AccessResult>, 'keep'>> };

export class AccessReviewer {
  readonly #api: SubjectAccessReviewApi;
  readonly #timeoutMs: number;
  readonly #cache: AnswerCache<AccessResult>;

  constructor(api: SubjectAccessReviewApi, options: AccessReviewerOptions = {}) {
    this.#api = api;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    // Only allows are remembered (see answer-cache.ts): RBAC granted after a denial counts at once.
    this.#cache = new AnswerCache<AccessResult>({ ttlMs: 10_000, ...options.cache, keep: (r) => r.allowed && !r.unavailable });
  }

  static fromKubeConfig(kubeConfig: KubeConfig, options?: AccessReviewerOptions): AccessReviewer {
    return new AccessReviewer(kubeConfig.makeApiClient(AuthorizationV1Api), options);
  }

  /**
   * Never rejects: an unreachable API server, a timeout or a malformed answer all mean "not
   * allowed". The same question asked at once is asked once; allows are briefly remembered
   * (see answer-cache.ts).
   */
  review(request: AccessRequest): Promise<AccessResult> {
    const body = buildSubjectAccessReview(request);
    return this.#cache.answer(reviewKey(request), () => this.#ask(request, body));
  }

  /** The remembered allow for this question, if there is one (no request, no promise). */
  remembered(request: AccessRequest): AccessResult | undefined {
    return this.#cache.peek(reviewKey(request));
  }

  /** remembered() for a permission asked as `user` (and `groups`), without building the request. */
  rememberedFor(p: Omit<AccessRequest, 'user' | 'groups'>, user: string, groups: readonly string[] | undefined): AccessResult | undefined {
    return this.#cache.peek(keyOf(user, groups, p));
  }

  async #ask(request: AccessRequest, body: V1SubjectAccessReview): Promise<AccessResult> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs}ms`)), this.#timeoutMs);
      });
      const answer = await Promise.race([this.#api.createSubjectAccessReview({ body }), timeout]);
      return interpretReview(request, answer?.status);
    } catch (error) {
      return { allowed: false, ...(isTransient(error) ? { unavailable: true as const } : {}), reason: `access review failed: ${errorText(error)}; ${describeMissingPermission(request)} could not be confirmed` };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The question a review asks, as a cache key: the fields buildSubjectAccessReview reads (the
 * groups it implies follow from the user). Whether groups were given changes the denial's
 * wording, not the question, but is kept apart as before.
 */
function reviewKey(r: AccessRequest): string {
  return keyOf(r.user, r.groups, r);
}

function keyOf(user: string, groups: readonly string[] | undefined, r: Omit<AccessRequest, 'user' | 'groups'>): string {
  // JSON of primitives: unambiguous whatever the names contain, and cheaper than the review body.
  return JSON.stringify([user, groups ?? null, r.verb, r.group, r.resource, r.name ?? null, r.namespace ?? null]);
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // Client errors can embed whole response bodies; the first line is the useful part.
  return (text.split('\n')[0] ?? '').slice(0, 300);
}
