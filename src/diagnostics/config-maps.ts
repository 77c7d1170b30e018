// An in-cluster bundle lives in ConfigMaps owned by its AgentMachineDiagnosticBundle: the
// gzip'd tarball cut into parts of at most 900 KiB (a ConfigMap holds 1 MiB), one part per
// ConfigMap named <bundle>-part-<n>, key bundle.tar.gz in binaryData. Concatenating the parts
// in order gives the tarball whose sha256 is the bundle's status.digest:
//
//   kubectl get cm -n NS -l agentmachine.sourceos.dev/diagnostic-bundle=NAME ...   (or)
//   agent-machine diagnostics fetch NAME -n NS -o bundle.tar.gz
import { createHash } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { API_VERSION } from '../api/group.ts';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../runtimes/container-runtime.ts';
import { CONFIG_MAPS } from '../operator/resource.ts';
import { isNotFound, type KubeClients } from '../operator/kube-clients.ts';

export const BUNDLE_LABEL = 'agentmachine.sourceos.dev/diagnostic-bundle';
export const PART_ANNOTATION = 'agentmachine.sourceos.dev/part';
export const PARTS_ANNOTATION = 'agentmachine.sourceos.dev/parts';
export const DIGEST_ANNOTATION = 'agentmachine.sourceos.dev/bundle-digest';
export const BUNDLE_KEY = 'bundle.tar.gz';
export const CHUNK_BYTES = 900 * 1024;
/** status.configMaps holds 64 names. */
export const MAX_PARTS = 64;

export interface BundleOwner {
  name: string;
  namespace: string;
  uid: string;
}

export function partName(bundle: string, n: number): string {
  return `${bundle}-part-${n}`;
}

export function bundleSelector(bundle: string): string {
  return `${BUNDLE_LABEL}=${bundle}`;
}

export function bundleConfigMaps(owner: BundleOwner, tarGz: Buffer, digest: string): V1ConfigMap[] {
  const parts = Math.max(1, Math.ceil(tarGz.length / CHUNK_BYTES));
  if (parts > MAX_PARTS) throw new Error(`bundle of ${tarGz.length} bytes needs ${parts} ConfigMaps; at most ${MAX_PARTS} are allowed`);
  return Array.from({ length: parts }, (_, n) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: partName(owner.name, n),
      namespace: owner.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, 'app.kubernetes.io/part-of': 'agent-machine', [BUNDLE_LABEL]: owner.name },
      annotations: { [PART_ANNOTATION]: String(n), [PARTS_ANNOTATION]: String(parts), [DIGEST_ANNOTATION]: digest },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'AgentMachineDiagnosticBundle', name: owner.name, uid: owner.uid, controller: true }],
    },
    binaryData: { [BUNDLE_KEY]: tarGz.subarray(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES).toString('base64') },
  }));
}

export type Reassembled = { ok: true; tarGz: Buffer; digest: string } | { ok: false; problem: string };

/** Puts the parts back together and checks them against the digest they carry. */
export function reassemble(configMaps: readonly V1ConfigMap[], expectedDigest?: string): Reassembled {
  if (configMaps.length === 0) return { ok: false, problem: 'no ConfigMaps' };
  const parts = Number(configMaps[0]!.metadata?.annotations?.[PARTS_ANNOTATION]);
  const digest = expectedDigest ?? configMaps[0]!.metadata?.annotations?.[DIGEST_ANNOTATION];
  if (!Number.isInteger(parts) || parts < 1) return { ok: false, problem: `annotation ${PARTS_ANNOTATION} missing` };
  const byIndex = new Map<number, V1ConfigMap>();
  for (const cm of configMaps) byIndex.set(Number(cm.metadata?.annotations?.[PART_ANNOTATION]), cm);
  const chunks: Buffer[] = [];
  for (let n = 0; n < parts; n++) {
    const data = byIndex.get(n)?.binaryData?.[BUNDLE_KEY];
    if (typeof data !== 'string') return { ok: false, problem: `part ${n} of ${parts} is missing` };
    chunks.push(Buffer.from(data, 'base64'));
  }
  const tarGz = Buffer.concat(chunks);
  const actual = `sha256:${createHash('sha256').update(tarGz).digest('hex')}`;
  if (digest && actual !== digest) return { ok: false, problem: `digest ${actual} does not match ${digest}` };
  return { ok: true, tarGz, digest: actual };
}

export async function listBundleConfigMaps(clients: KubeClients, namespace: string, bundle: string): Promise<V1ConfigMap[]> {
  const list = await clients.request<{ items?: V1ConfigMap[] }>({ method: 'GET', path: CONFIG_MAPS.apiPath(namespace), query: { labelSelector: bundleSelector(bundle) } });
  return list.items ?? [];
}

/** Creates or replaces each part (server-side apply: one idempotent call per part). */
export async function applyBundleConfigMaps(clients: KubeClients, configMaps: readonly V1ConfigMap[]): Promise<void> {
  for (const cm of configMaps) {
    await clients.request({
      method: 'PATCH',
      path: CONFIG_MAPS.apiPath(cm.metadata!.namespace, cm.metadata!.name),
      query: { fieldManager: 'agent-machine', force: true },
      body: cm,
      contentType: 'application/apply-patch+yaml',
      signal: AbortSignal.timeout(60_000),
    });
  }
}

/** Deletes the bundle's parts except the ones named in keep; returns the names deleted. */
export async function deleteBundleConfigMaps(clients: KubeClients, namespace: string, bundle: string, keep: readonly string[] = []): Promise<string[]> {
  const deleted: string[] = [];
  for (const cm of await listBundleConfigMaps(clients, namespace, bundle)) {
    const name = cm.metadata?.name;
    if (!name || keep.includes(name)) continue;
    try {
      await clients.request({ method: 'DELETE', path: CONFIG_MAPS.apiPath(namespace, name), signal: AbortSignal.timeout(30_000) });
      deleted.push(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return deleted;
}
