// An execution's admission: the container admission (profile → authority and RBAC → budget →
// policy, see container-state.ts admitContainer) over every container, plus what only an
// execution has: its delegation must also cover container.run, its delegator must be allowed
// `grant` on every tool and `use` on its binding (RBAC), every tool needs an Active grant of its
// own delegator to the delegate, and a modelProviderRef must name a usable binding (or hold) that
// serves this delegator and tenant (execution-state.ts admitTool, bindingServes).
import type { LocalAgentExecution } from '../api/types.generated.ts';
import { checkAuthority } from '../governance/authority.ts';
import { fitExecutionBudget, type FullBudget } from '../governance/budget.ts';
import { firstDenial } from '../governance/decision.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { containerRequests, modelProviderUseRequest } from '../governance/requests.ts';
import type { ReconcilerDeps } from './deps.ts';
import { admitContainer, type AdmissionFacts } from './container-state.ts';
import type { ExecutionAdmission } from './execution-decision.ts';
import { executionAuthorization } from './execution-authority.ts';
import { admitModelProvider, admitTool } from './execution-state.ts';
import { profileFact, profileNames } from './facts.ts';
import { BY_TOOL, indexed } from './indexes.ts';
import { resolveWorkspace } from './workspace-path.ts';
import { walkGates } from './core/gate-walk.ts';

/** A model provider that does not exist yet holds the execution: the walk stops at policy. */
class Held extends Error {
  readonly admission: ExecutionAdmission;
  constructor(admission: ExecutionAdmission) {
    super('held for its model provider');
    this.admission = admission;
  }
}

export async function admitExecution(deps: ReconcilerDeps, ex: LocalAgentExecution, now: Date): Promise<ExecutionAdmission> {
  const profile = deps.informers.profiles.get(ex.spec.profileRef.name);
  const grantsOf = indexed(deps.informers.grants, BY_TOOL);
  const tools = ex.spec.tools ?? [];
  const pf = profileFact(profile, ex.spec.profileRef.name, profileNames(deps));
  // Nothing new starts under a profile being deleted (profile-in-use.ts): wait for it to go.
  if (pf.found && pf.ready && pf.deleting) return { admitted: false, hold: true, reason: 'ProfileDeleting', message: `waiting: ${pf.message}`, authorized: 'Unknown', policyAllowed: 'Unknown', budgetAvailable: 'Unknown', decisions: [] };
  try {
    return await walkGates<AdmissionFacts, ReturnType<typeof admitContainer>>({ profile: pf }, admitContainer, {
      authorization: async (f) => {
        const auth = await deps.authorizer.authorize(executionAuthorization(ex, now));
        // The execution's containers run under the same delegation: it must cover container.run too.
        const runScope = auth.allowed ? checkAuthority(ex.spec.authority, { operationType: 'agent_machine.container.run', now }) : [];
        const scopeDenied = firstDenial(runScope);
        f.authorization = scopeDenied ? { allowed: false, reason: 'ScopeNotCovered', message: scopeDenied.message, decisions: [...auth.decisions, ...runScope] } : auth;
      },
      budget: (f) => void (f.budget = fitExecutionBudget(ex.spec.budget, profile!.spec.budgetCeilings as FullBudget, ex.spec.containers.length)),
      policy: async (f) => {
        const runtime = ex.spec.runtime ?? deps.defaultRuntime;
        const workspaces = await Promise.all(ex.spec.containers.map((c) => resolveWorkspace(c, runtime)));
        const results = ex.spec.containers.flatMap((c, i) => containerRequests(c, ex.spec.tenant, workspaces[i], ex.spec.network?.mode, ex.spec.network?.egressAllowlist)).map((req) => evaluatePolicy(profile, req, { sandbox: deps.celSandbox }));
        const toolDecisions = tools.flatMap((tool) => [
          admitTool(ex, tool, grantsOf(`${ex.metadata.namespace}/${tool}`)),
          ...evaluatePolicy(profile, { gate: 'toolGrant', tool, ...(ex.spec.tenant ? { tenant: ex.spec.tenant } : {}) }, { sandbox: deps.celSandbox }).decisions,
        ]);
        const ref = ex.spec.modelProviderRef;
        const binding = ref ? deps.informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined;
        const bindingProfileType = binding ? deps.informers.profiles.get(binding.spec.profileRef.name)?.spec.profileType : undefined;
        const model = admitModelProvider(ex, binding, (b) => evaluatePolicy(profile, modelProviderUseRequest(b.spec, ex.spec.tenant, ex.spec.authority.delegator), { sandbox: deps.celSandbox }), bindingProfileType);
        if (model.hold) throw new Held({ admitted: false, hold: true, reason: model.reason, message: model.message, authorized: 'True', policyAllowed: 'Unknown', budgetAvailable: 'True', decisions: [] });
        const all = [...results.flatMap((r) => r.decisions), ...toolDecisions, ...model.decisions];
        f.policy = { allowed: all.every((d) => d.allowed), decisions: all };
      },
    });
  } catch (err) {
    if (err instanceof Held) return err.admission;
    throw err;
  }
}
