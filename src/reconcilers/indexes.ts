// The informer indexes reconcilers look objects up by (see operator/indexer.ts): one
// definition each, so every controller sharing an informer adds the same index.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import type { IndexFunc } from '../operator/indexer.ts';
import type { Informer } from '../operator/informer.ts';

export interface NamedIndex<T> {
  name: string;
  fn: IndexFunc<T>;
}

/** Adds the index to the informer (once) and returns its lookup. */
export function indexed<T extends KubernetesObject>(informer: Informer<T>, index: NamedIndex<T>): (value: string) => T[] {
  informer.addIndex(index.name, index.fn);
  return (value) => informer.byIndex(index.name, value);
}

/** metadata.uid: runtime events name the record by uid. */
export const BY_UID: NamedIndex<KubernetesObject> = { name: 'uid', fn: (o) => (o.metadata?.uid ? [o.metadata.uid] : []) };

/** The uids of an object's owners. */
export const BY_OWNER_UID: NamedIndex<KubernetesObject> = { name: 'ownerUid', fn: (o) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid) };

/** spec.profileRef.name, of every kind that lives under a profile. */
export const BY_PROFILE: NamedIndex<KubernetesObject & { spec: { profileRef: { name: string } } }> = { name: 'profile', fn: (o) => (o.spec?.profileRef?.name ? [o.spec.profileRef.name] : []) };

/** namespace/name of the ModelProviderBinding an execution names. */
export const BY_MODEL_PROVIDER: NamedIndex<LocalAgentExecution> = {
  name: 'modelProvider',
  fn: (e) => (e.spec?.modelProviderRef?.name ? [`${e.metadata.namespace}/${e.spec.modelProviderRef.name}`] : []),
};

/** namespace/tool a grant grants. */
export const BY_TOOL: NamedIndex<ToolGrantRecord> = { name: 'tool', fn: (g) => (g.spec?.tool ? [`${g.metadata.namespace}/${g.spec.tool}`] : []) };

/** namespace/tool of every tool an execution was admitted with: a grant's change wakes them. */
export const BY_EXECUTION_TOOL: NamedIndex<LocalAgentExecution> = {
  name: 'executionTool',
  fn: (e) => (Array.isArray(e.spec?.tools) ? e.spec.tools.filter((t) => typeof t === 'string').map((t) => `${e.metadata.namespace}/${t}`) : []),
};
