// A running execution's authority, looked at again (ExecutionObserved.authorityLost): what the
// informer caches show lost (governance/authority-loss.ts), else the delegator's RBAC for what
// admission asked (`use` on the profile), through the authorizer's cached access reviews.
import type { LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import { permissions } from '../governance/access-review.ts';
import { authorityLoss } from '../governance/authority-loss.ts';
import type { ReconcilerDeps } from './deps.ts';
import { AuthorizationUnavailableError } from './authorization.ts';
import { START } from './execution-decision.ts';

export async function observeAuthorityLoss(deps: ReconcilerDeps, ex: LocalAgentExecution, now: Date, grantsFor: (tool: string) => readonly ToolGrantRecord[]): Promise<string | undefined> {
  const ref = ex.spec.modelProviderRef;
  const binding = ref ? deps.informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined;
  const cached = authorityLoss(ex, now, grantsFor, binding);
  if (cached) return cached.message;
  try {
    const auth = await deps.authorizer.authorize({ authority: ex.spec.authority, operationType: START, toolRefs: ex.spec.tools ?? [], permissions: [permissions.useProfile(ex.spec.profileRef.name)], now });
    return auth.allowed ? undefined : `the delegator's RBAC was removed (${auth.reason}): ${auth.message}`;
  } catch (err) {
    // Not knowing is not a loss: the run goes on, and its gateway calls fail closed meanwhile.
    if (err instanceof AuthorizationUnavailableError) return undefined;
    throw err;
  }
}
