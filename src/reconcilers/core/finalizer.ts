// The finalizer steps of a governed reconcile: an object being deleted is cleaned up (its
// kind's cleanup: audit a revocation, remove containers or ConfigMaps) and let go; a live one
// gets the finalizer before it acts, unless it went away meanwhile.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../../operator/finalizers.ts';
import type { ResourceType } from '../../operator/resource.ts';
import type { ReconcilerDeps } from '../deps.ts';

/** True when obj is being deleted (and was finalized here if it still held the finalizer). */
export async function finalizeIfDeleted<T extends KubernetesObject>(deps: ReconcilerDeps, type: ResourceType, obj: T, cleanup: (obj: T) => Promise<void>): Promise<boolean> {
  if (!isBeingDeleted(obj)) return false;
  if (!hasFinalizer(obj)) return true;
  await cleanup(obj);
  await removeFinalizer(deps.clients, type, obj);
  return true;
}

/** obj with the finalizer (patched if missing), or undefined when it is gone. */
export async function withFinalizer<T extends KubernetesObject>(deps: ReconcilerDeps, type: ResourceType, obj: T): Promise<T | undefined> {
  if (hasFinalizer(obj)) return obj;
  const r = await ensureFinalizer(deps.clients, type, obj);
  return r.outcome === 'gone' ? undefined : r.object;
}
