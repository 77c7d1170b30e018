// Where a kind lives in the API (group/version/plural) and how objects of it are keyed.
// Everything generic in src/operator speaks in ResourceTypes and "ns/name" keys, so one
// informer, status writer or finalizer helper serves every kind, core or custom.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface ResourceDef {
  /** '' for the core group (ConfigMap, Pod, Secret). */
  group: string;
  version: string;
  /** Lower-case plural as in the URL, e.g. 'toolgrantrecords'. */
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface ResourceType extends ResourceDef {
  /** 'v1' for core, 'group/version' otherwise. */
  readonly apiVersion: string;
  /**
   * URL path of the collection (no name) or of one object. A namespaced type without a
   * namespace gives the all-namespaces collection.
   */
  apiPath(namespace?: string, name?: string, subresource?: string): string;
}

export function defineResource(def: ResourceDef): ResourceType {
  const apiVersion = def.group === '' ? def.version : `${def.group}/${def.version}`;
  const root = def.group === '' ? `/api/${def.version}` : `/apis/${def.group}/${def.version}`;
  return {
    ...def,
    apiVersion,
    apiPath(namespace?: string, name?: string, subresource?: string): string {
      if (def.namespaced && name !== undefined && !namespace) {
        throw new Error(`${def.kind} ${name}: a namespaced object needs a namespace`);
      }
      let path = root;
      if (def.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
      path += `/${def.plural}`;
      if (name !== undefined) path += `/${encodeURIComponent(name)}`;
      if (subresource !== undefined) {
        if (name === undefined) throw new Error(`${def.kind}: a subresource needs an object name`);
        path += `/${subresource}`;
      }
      return path;
    },
  };
}

/** "namespace/name" for namespaced objects, "name" for cluster-scoped ones (client-go's MetaNamespaceKeyFunc). */
export function objectKey(obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`object of kind ${obj.kind ?? '?'} has no metadata.name`);
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

export function keyOf(name: string, namespace?: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function parseKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

// Core kinds the reconcilers own or read; our own kinds are defined next to their reconcilers.
export const CONFIG_MAPS = defineResource({ group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true });
export const SECRETS = defineResource({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true });
export const PODS = defineResource({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true });
export const LEASES = defineResource({
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
});
