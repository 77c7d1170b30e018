// The writes an execution makes to the ContainerExecutionRecords it owns: create an attempt's
// records (one per container, owned by the execution, named so a restart finds them, each with
// its share of the execution's budget), cancel them, delete them. Each is idempotent: already created, already gone is success.
import type { ContainerExecutionRecord, LocalAgentExecution } from '../api/types.generated.ts';
import { API_VERSION } from '../api/group.ts';
import { RESOURCES } from '../api/resources.ts';
import { containerShare, type FullBudget } from '../governance/budget.ts';
import { isConflict, isNotFound, MERGE_PATCH } from '../operator/kube-clients.ts';
import type { ReconcilerDeps } from './deps.ts';
import { recordNameFor } from './execution-state.ts';

const EXECUTION_UID_LABEL = 'agentmachine.sourceos.dev/execution-uid';

/**
 * One record per container, owned by the execution; an existing one (restart) is kept. Each
 * asks for its share of the execution's effective budget, so N containers never get N times it.
 */
export async function createAttempt(deps: ReconcilerDeps, ex: LocalAgentExecution, attempt: number, owned: ContainerExecutionRecord[], effective: FullBudget): Promise<void> {
  const ownedNames = new Set(owned.map((c) => c.metadata.name));
  const budget = containerShare(effective, ex.spec.containers.length);
  for (const container of ex.spec.containers) {
    const name = recordNameFor(ex.metadata.name!, container.name!, attempt);
    if (ownedNames.has(name)) continue;
    const record: ContainerExecutionRecord = {
      apiVersion: API_VERSION,
      kind: 'ContainerExecutionRecord',
      metadata: {
        name,
        namespace: ex.metadata.namespace,
        labels: { [EXECUTION_UID_LABEL]: ex.metadata.uid!, 'agentmachine.sourceos.dev/execution': ex.metadata.name! },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'LocalAgentExecution', name: ex.metadata.name!, uid: ex.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        profileRef: ex.spec.profileRef,
        authority: ex.spec.authority,
        executionRef: { name: ex.metadata.name! },
        ...(ex.spec.tenant ? { tenant: ex.spec.tenant } : {}),
        ...(ex.spec.runtime ? { runtime: ex.spec.runtime } : {}),
        ...(ex.spec.network ? { network: ex.spec.network } : {}),
        container,
        budget,
      },
    };
    try {
      await deps.clients.request({ method: 'POST', path: RESOURCES.ContainerExecutionRecord.apiPath(ex.metadata.namespace), body: record });
    } catch (err) {
      if (!isConflict(err)) throw err; // 409 AlreadyExists: created by an earlier reconcile
    }
  }
}

export async function cancelRecord(deps: ReconcilerDeps, c: ContainerExecutionRecord): Promise<void> {
  try {
    await deps.clients.customObjects.patchNamespacedCustomObject(
      { group: RESOURCES.ContainerExecutionRecord.group, version: RESOURCES.ContainerExecutionRecord.version, namespace: c.metadata.namespace!, plural: RESOURCES.ContainerExecutionRecord.plural, name: c.metadata.name!, body: { spec: { cancel: true } } },
      MERGE_PATCH,
    );
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function deleteRecord(deps: ReconcilerDeps, c: ContainerExecutionRecord): Promise<void> {
  try {
    await deps.clients.request({ method: 'DELETE', path: RESOURCES.ContainerExecutionRecord.apiPath(c.metadata.namespace, c.metadata.name) });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
