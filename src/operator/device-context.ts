// Reads what the upstream records' device id is derived from (upstream-records/common.ts
// deviceIdFor): the kube-system namespace's UID, which lives as long as the cluster, and the
// node. The controller knows its own node ($NODE_NAME from the Downward API, else the host
// name); the CLI is told (--node), else takes the cluster's only Node, else says `cluster`.
import { hostname } from 'node:os';
import type { DeviceContext } from '../api/upstream-records/common.ts';
import { describeError, type KubeClients } from './kube-clients.ts';

/** Without read access to kube-system, the API server's URL stands in: stable per cluster, and said so. */
export async function readDeviceContext(clients: Pick<KubeClients, 'request' | 'kubeConfig'>, node: string | undefined, warn: (message: string) => void): Promise<DeviceContext> {
  let clusterUid: string;
  try {
    const ns = await clients.request<{ metadata?: { uid?: string } }>({ method: 'GET', path: '/api/v1/namespaces/kube-system' });
    if (!ns.metadata?.uid) throw new Error('namespace kube-system has no uid');
    clusterUid = ns.metadata.uid;
  } catch (err) {
    const server = clients.kubeConfig.getCurrentCluster()?.server ?? 'unknown';
    warn(`cannot read namespace kube-system (${describeError(err)}): the device id is derived from the API server URL instead`);
    clusterUid = `server:${server}`;
  }
  return { clusterUid, node: node ?? (await onlyNode(clients)) };
}

/** The cluster's only Node's name; `cluster` when there are none, several, or they cannot be listed. */
async function onlyNode(clients: Pick<KubeClients, 'request'>): Promise<string> {
  try {
    const nodes = await clients.request<{ items?: Array<{ metadata?: { name?: string } }> }>({ method: 'GET', path: '/api/v1/nodes', query: { limit: 2 } });
    const items = nodes.items ?? [];
    return items.length === 1 && items[0]!.metadata?.name ? items[0]!.metadata.name : 'cluster';
  } catch {
    return 'cluster';
  }
}

/** The node the controller runs on. */
export function controllerNode(): string {
  return process.env['NODE_NAME'] || hostname();
}
