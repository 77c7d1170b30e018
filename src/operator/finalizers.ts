// Adding and removing our finalizer without losing anyone else's.
//
// metadata.finalizers is a plain list, and a merge patch replaces lists whole: a patch
// computed from a stale copy would silently drop a finalizer another controller added in
// between. So each patch carries the resourceVersion it was computed from, which makes the
// API server reject it with 409 Conflict if the object changed meanwhile. The caller lets the
// error propagate: the reconcile is retried with fresh state from the informer.
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { isNotFound } from './kube-clients.ts';
import type { KubeClients } from './kube-clients.ts';
import type { ResourceType } from './resource.ts';

export const FINALIZER = 'agentmachine.sourceos.dev/finalizer';

export type FinalizerResult<T> = { outcome: 'patched'; object: T } | { outcome: 'unchanged'; object: T } | { outcome: 'gone' };

export function hasFinalizer(obj: KubernetesObject, finalizer = FINALIZER): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubernetesObject): boolean {
  return obj.metadata?.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null;
}

/** Adds the finalizer unless present. Throws ApiException 409 when obj is stale. */
export function ensureFinalizer<T extends KubernetesObject>(
  clients: KubeClients,
  type: ResourceType,
  obj: T,
  finalizer = FINALIZER,
): Promise<FinalizerResult<T>> {
  if (hasFinalizer(obj, finalizer)) return Promise.resolve({ outcome: 'unchanged', object: obj });
  return patchFinalizers(clients, type, obj, [...(obj.metadata?.finalizers ?? []), finalizer]);
}

/** Removes the finalizer if present (after cleanup). Throws ApiException 409 when obj is stale. */
export function removeFinalizer<T extends KubernetesObject>(
  clients: KubeClients,
  type: ResourceType,
  obj: T,
  finalizer = FINALIZER,
): Promise<FinalizerResult<T>> {
  if (!hasFinalizer(obj, finalizer)) return Promise.resolve({ outcome: 'unchanged', object: obj });
  return patchFinalizers(
    clients,
    type,
    obj,
    (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer),
  );
}

async function patchFinalizers<T extends KubernetesObject>(
  clients: KubeClients,
  type: ResourceType,
  obj: T,
  finalizers: string[],
): Promise<FinalizerResult<T>> {
  const meta = obj.metadata;
  if (!meta?.name || !meta.resourceVersion) {
    throw new Error(`${type.kind}: finalizers need an object read from the server (name and resourceVersion)`);
  }
  try {
    const object = await clients.request<T>({
      method: 'PATCH',
      path: type.apiPath(meta.namespace, meta.name),
      // null, not [], clears the field: an empty list would be stored as such.
      body: { metadata: { resourceVersion: meta.resourceVersion, finalizers: finalizers.length > 0 ? finalizers : null } },
      contentType: PatchStrategy.MergePatch,
      signal: AbortSignal.timeout(30_000),
    });
    return { outcome: 'patched', object };
  } catch (err) {
    if (isNotFound(err)) return { outcome: 'gone' };
    throw err;
  }
}
