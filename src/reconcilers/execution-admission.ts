// An execution's admission: the container admission (profile → authority and RBAC → budget →
// policy, see container-state.ts admitContainer) over every container, plus what only an
// execution has: its delegation must also cover container.run, every tool needs an Active
// grant to the delegate, and a modelProviderRef must name a usable binding (or hold).
import type { LocalAgentExecution } from '../api/types.generated.ts';
import { permissions } from '../governance/access-review.ts';
import { checkAuthority } from '../governance/authority.ts';
import { fitExecutionBudget, type FullBudget } from '../governance/budget.ts';
import { allow, deny, firstDenial } from '../governance/decision.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { containerRequests, modelProviderUseRequest } from '../governance/requests.ts';
import type { ReconcilerDeps } from './deps.ts';
import { admitContainer, type AdmissionFacts } from './container-state.ts';
import { START, type ExecutionAdmission } from './execution-decision.ts';
import { admitModelProvider } from './execution-state.ts';
import { profileFact } from './facts.ts';
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
  try {
    return await walkGates<AdmissionFacts, ReturnType<typeof admitContainer>>({ profile: profileFact(profile, ex.spec.profileRef.name) }, admitContainer, {
      authorization: async (f) => {
        const auth = await deps.authorizer.authorize({ authority: ex.spec.authority, operationType: START, toolRefs: tools, permissions: [permissions.useProfile(ex.spec.profileRef.name)], now });
        // The execution's containers run under the same delegation: it must cover container.run too.
        const runScope = auth.allowed ? checkAuthority(ex.spec.authority, { operationType: 'agent_machine.container.run', now }) : [];
        const scopeDenied = firstDenial(runScope);
        f.authorization = scopeDenied ? { allowed: false, reason: 'ScopeNotCovered', message: scopeDenied.message, decisions: [...auth.decisions, ...runScope] } : auth;
      },
      budget: (f) => void (f.budget = fitExecutionBudget(ex.spec.budget, profile!.spec.budgetCeilings as FullBudget, ex.spec.containers.length)),
      policy: async (f) => {
        const runtime = ex.spec.runtime ?? deps.defaultRuntime;
        const workspaces = await Promise.all(ex.spec.containers.map((c) => resolveWorkspace(c, runtime)));
        const results = ex.spec.containers.flatMap((c, i) => containerRequests(c, ex.spec.tenant, workspaces[i], ex.spec.network?.mode)).map((req) => evaluatePolicy(profile, req, { sandbox: deps.celSandbox }));
        const toolDecisions = tools.flatMap((tool) => {
          const grant = grantsOf(`${ex.metadata.namespace}/${tool}`).find((g) => g.status?.state === 'Active' && g.spec.authority.delegate === ex.spec.authority.delegate);
          const granted = grant
            ? allow('toolGrant', 'grant.active', `tool ${tool} granted to ${ex.spec.authority.delegate} by ${grant.metadata.name}`)
            : deny('toolGrant', 'grant.active', `no Active ToolGrantRecord in ${ex.metadata.namespace} grants tool ${tool} to ${ex.spec.authority.delegate}`);
          return [granted, ...evaluatePolicy(profile, { gate: 'toolGrant', tool, ...(ex.spec.tenant ? { tenant: ex.spec.tenant } : {}) }, { sandbox: deps.celSandbox }).decisions];
        });
        const ref = ex.spec.modelProviderRef;
        const model = admitModelProvider(ex, ref ? deps.informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined, (b) => evaluatePolicy(profile, modelProviderUseRequest(b.spec, ex.spec.tenant), { sandbox: deps.celSandbox }));
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
