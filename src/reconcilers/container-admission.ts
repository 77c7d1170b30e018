// A ContainerExecutionRecord's admission, once, before anything runs: the shared walk
// profile → authority and RBAC → budget → policy (container-state.ts admitContainer). The
// workspace's real host path, resolved for the policy, is handed back to be mounted.
import type { AgentMachineProfile, ContainerExecutionRecord } from '../api/types.generated.ts';
import { permissions } from '../governance/access-review.ts';
import { fitBudget, type FullBudget } from '../governance/budget.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { containerRequests, type HostPathResolution } from '../governance/requests.ts';
import type { ReconcilerDeps } from './deps.ts';
import { admitContainer, type AdmissionFacts } from './container-state.ts';
import { profileFact, profileNames } from './facts.ts';
import { resolveWorkspace } from './workspace-path.ts';
import { walkGates } from './core/gate-walk.ts';

/** Profile → authority and RBAC → budget → policy (container-state.ts admitContainer). */
export function admitContainerRecord(deps: ReconcilerDeps, record: ContainerExecutionRecord, profile: AgentMachineProfile | undefined, now: Date, resolved: (w: HostPathResolution | undefined) => void) {
  const runtimeKind = record.spec.runtime ?? deps.defaultRuntime;
  return walkGates<AdmissionFacts, ReturnType<typeof admitContainer>>({ profile: profileFact(profile, record.spec.profileRef.name, profileNames(deps)) }, admitContainer, {
    authorization: async (f) => {
      f.authorization = await deps.authorizer.authorize({ authority: record.spec.authority, operationType: 'agent_machine.container.run', permissions: [permissions.useProfile(record.spec.profileRef.name)], tenancy: { namespace: record.metadata.namespace!, tenant: record.spec.tenant }, now });
    },
    budget: (f) => void (f.budget = fitBudget(record.spec.budget, profile!.spec.budgetCeilings as FullBudget)),
    policy: async (f) => {
      const workspace = await resolveWorkspace(record.spec.container, runtimeKind);
      resolved(workspace);
      const results = containerRequests(record.spec.container, record.spec.tenant, workspace, record.spec.network?.mode).map((req) => evaluatePolicy(profile, req, { sandbox: deps.celSandbox }));
      f.policy = { allowed: results.every((r) => r.allowed), decisions: results.flatMap((r) => r.decisions) };
    },
  });
}
