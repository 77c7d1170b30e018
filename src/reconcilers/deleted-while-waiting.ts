// Executions deleted while they waited (admitted and Queued, or held Pending) carry no
// finalizer: it is added when one takes a slot, so a burst of 1,000 admissions costs no 1,000
// more writes. Their deletion is still audited, from the last copy the informer saw, kept here
// until their reconcile takes it: only what that needs (a standby keeps them too, and never
// takes them). Bounded: the oldest are forgotten first.
import type { LocalAgentExecution } from '../api/types.generated.ts';
import { hasFinalizer } from '../operator/finalizers.ts';
import type { Informer } from '../operator/informer.ts';
import { RecentMap } from '../operator/recent-map.ts';
import { objectKey } from '../operator/resource.ts';

export class DeletedWhileWaiting {
  readonly #byKey = new RecentMap<string, LocalAgentExecution>(10_000);

  constructor(executions: Informer<LocalAgentExecution>) {
    executions.on({ delete: (e) => void (!hasFinalizer(e) && isDecidedAndWaiting(e) && this.#remember(e)) });
  }

  take(key: string): LocalAgentExecution | undefined {
    const e = this.#byKey.get(key);
    this.#byKey.delete(key);
    return e;
  }

  #remember(e: LocalAgentExecution): void {
    const { apiVersion, kind, metadata, spec } = e;
    const slim = { apiVersion, kind, metadata: { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion }, spec: { authority: spec.authority } };
    this.#byKey.remember(objectKey(e), slim as LocalAgentExecution);
  }
}

/** Admitted or held (an audit line says so), not started, not finished. */
function isDecidedAndWaiting(e: LocalAgentExecution): boolean {
  return e.status?.phase === 'Queued' || e.status?.phase === 'Pending';
}
