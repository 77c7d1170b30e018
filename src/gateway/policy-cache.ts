// The policy verdicts the gateway needs on every call (modelProviderUse of the execution's
// profile for its binding; toolGrant for a grant), remembered per object version for at most
// POLICY_TTL_MS: a verdict costs CEL evaluation, and calls come in bursts.
import type { AgentMachineProfile, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import type { CelSandbox } from '../governance/cel-sandbox.ts';
import { evaluatePolicy, type PolicyResult } from '../governance/policy.ts';
import { modelProviderUseRequest, toolGrantRequest, type ToolCallFacts } from '../governance/requests.ts';

const POLICY_TTL_MS = 5_000;
const MAX_ENTRIES = 4096;

export class PolicyCache {
  readonly #cache = new Map<string, { result: PolicyResult; at: number }>();
  readonly #sandbox: CelSandbox;

  /** `sandbox` runs the profiles' CEL rules (the controller's, shared with the reconcilers). */
  constructor(sandbox: CelSandbox) {
    this.#sandbox = sandbox;
  }

  /** tenant and delegator: the calling execution's. */
  modelUse(profile: AgentMachineProfile, binding: ModelProviderBinding, tenant: string | undefined, delegator: string): PolicyResult {
    const key = `m|${profile.metadata.uid}@${profile.metadata.resourceVersion}|${binding.metadata.uid}@${binding.metadata.resourceVersion}|${tenant ?? ''}|${delegator}`;
    return this.#cached(key, () => evaluatePolicy(profile, modelProviderUseRequest(binding.spec, tenant, delegator), { sandbox: this.#sandbox }));
  }

  /** call: a connector call's action, method and path, which the profile's rules may read. */
  toolUse(profile: AgentMachineProfile | undefined, grant: ToolGrantRecord, tenant: string | undefined, call?: ToolCallFacts): PolicyResult {
    if (!profile) return evaluatePolicy(undefined, toolGrantRequest(grant.spec, tenant, call), { sandbox: this.#sandbox });
    const callKey = call ? `|${call.action ?? ''}\u0000${call.method}\u0000${call.path}` : '';
    const key = `t|${profile.metadata.uid}@${profile.metadata.resourceVersion}|${grant.metadata.uid}@${grant.metadata.resourceVersion}|${tenant ?? ''}${callKey}`;
    return this.#cached(key, () => evaluatePolicy(profile, toolGrantRequest(grant.spec, tenant, call), { sandbox: this.#sandbox }));
  }

  #cached(key: string, evaluate: () => PolicyResult): PolicyResult {
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < POLICY_TTL_MS) return hit.result;
    const result = evaluate();
    if (this.#cache.size > MAX_ENTRIES) this.#cache.clear();
    this.#cache.set(key, { result, at: now });
    return result;
  }
}
