// The delegator's RBAC, asked again at the point of use: a model call needs `use` on the
// execution's binding, a tool decision `grant` on the tool (the permission the grant itself
// needed), and the execution's tenant must still be its namespace's. Admission asked the same
// questions; asking on every call is what makes a RoleBinding removed (or a namespace
// relabelled) mid-run count for the next call. Answers come from the controller's Authorizer
// (access reviews and namespace labels remembered for at most 10 s, denials never), handed in
// through the gateway's options.
import type { LocalAgentExecution } from '../api/types.generated.ts';
import type { Permission } from '../reconcilers/authorization.ts';
import { AuthorizationUnavailableError, type Authorizer } from '../reconcilers/authorization.ts';
import type { Refusal } from './gates.ts';

export type DelegatorAuthorizer = Pick<Authorizer, 'authorize'>;

/** undefined: the delegator may; otherwise the refusal to send (403, or 503 when no answer was had). */
export async function delegatorRefusal(authorizer: DelegatorAuthorizer, ex: LocalAgentExecution, permission: Permission, now: Date, tool?: string): Promise<Refusal | undefined> {
  try {
    const outcome = await authorizer.authorize({
      authority: ex.spec.authority,
      operationType: 'agent_machine.execution.start',
      ...(tool !== undefined ? { toolRefs: [tool] } : {}),
      permissions: [permission],
      tenancy: { namespace: ex.metadata.namespace!, tenant: ex.spec.tenant },
      now,
    });
    if (outcome.allowed) return undefined;
    const code = outcome.reason === 'TenantMismatch' ? 'tenant_mismatch' : outcome.reason === 'PermissionDenied' ? 'permission_denied' : 'not_authorized';
    return { status: 403, type: 'permission_error', code, message: `${outcome.reason}: ${outcome.message}` };
  } catch (err) {
    if (!(err instanceof AuthorizationUnavailableError)) throw err;
    // Not knowing is not permission: refuse now, the agent may retry.
    return { status: 503, type: 'service_unavailable', code: 'authorization_unavailable', message: `the delegator's permission could not be checked: ${err.message}` };
  }
}
