// An execution's authority: what admission asks the authorizer (executionAuthorization), and the
// same asked again while it runs (ExecutionObserved.authorityLost): what the informer caches show
// lost (governance/authority-loss.ts), else the delegator's RBAC and the namespace's tenant for
// everything admission asked, through the authorizer's cached answers.
import type { LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import { permissions } from '../governance/access-review.ts';
import { authorityLoss } from '../governance/authority-loss.ts';
import type { ReconcilerDeps } from './deps.ts';
import { AuthorizationUnavailableError, type AuthorizationRequest } from './authorization.ts';
import { START } from './execution-decision.ts';

/** What admission asks for an execution: `use` on its profile and binding, `grant` on its tools, its tenant. */
export function executionAuthorization(ex: LocalAgentExecution, now: Date): AuthorizationRequest {
  const ns = ex.metadata.namespace!;
  const tools = ex.spec.tools ?? [];
  const ref = ex.spec.modelProviderRef;
  return {
    authority: ex.spec.authority,
    operationType: START,
    toolRefs: tools,
    permissions: [permissions.useProfile(ex.spec.profileRef.name), ...tools.map((t) => permissions.grantTool(t, ns)), ...(ref ? [permissions.useModelProvider(ref.name, ns)] : [])],
    tenancy: { namespace: ns, tenant: ex.spec.tenant },
    now,
  };
}

export async function observeAuthorityLoss(deps: ReconcilerDeps, ex: LocalAgentExecution, now: Date, grantsFor: (tool: string) => readonly ToolGrantRecord[]): Promise<string | undefined> {
  const ref = ex.spec.modelProviderRef;
  const binding = ref ? deps.informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined;
  const cached = authorityLoss(ex, now, grantsFor, binding);
  if (cached) return cached.message;
  try {
    const auth = await deps.authorizer.authorize(executionAuthorization(ex, now));
    return auth.allowed ? undefined : `the delegator's RBAC was removed (${auth.reason}): ${auth.message}`;
  } catch (err) {
    // Not knowing is not a loss: the run goes on, and its gateway calls fail closed meanwhile.
    if (err instanceof AuthorizationUnavailableError) return undefined;
    throw err;
  }
}
