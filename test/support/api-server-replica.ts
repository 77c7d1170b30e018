// A second kube-apiserver over the shared test control plane's etcd, certificates and users: a
// replica of the same cluster (an HA control plane), on its own port. A controller pointed at
// it can see its API server restarted, or started with other flags (e.g. no watch cache),
// while every other client keeps using the shared one undisturbed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from '../../src/dev/local-control-plane.ts';
import { freePorts } from '../../src/dev/free-ports.ts';
import { adminKubeConfig, controlPlaneParts } from './integration-env.ts';

export interface ApiServerReplica extends ApiServer {
  /** Admin kubeconfig pointing at this replica (for --kubeconfig of a controller). */
  kubeconfigPath: string;
  kubeConfig(): KubeConfig;
}

export async function startApiServerReplica(opts: { name: string; extraArgs?: string[] }): Promise<ApiServerReplica> {
  const { etcdUrl, dataDir, binDir } = controlPlaneParts();
  const admin = adminKubeConfig();
  const token = admin.getCurrentUser()?.token;
  if (!token) throw new Error('the admin kubeconfig has no token');
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port] = (await freePorts(1)) as [number];
    try {
      const api = await startApiServer({ binDir, dataDir, etcdUrl, port, adminToken: token, name: opts.name, extraArgs: opts.extraArgs });
      const kc = new KubeConfig();
      kc.loadFromString(admin.exportConfig());
      kc.clusters = kc.clusters.map((c) => ({ ...c, server: api.server }));
      const kubeconfigPath = path.join(mkdtempSync(path.join(tmpdir(), 'am-replica-')), 'admin.kubeconfig');
      writeFileSync(kubeconfigPath, kc.exportConfig(), { mode: 0o600 });
      return Object.assign(api, {
        kubeconfigPath,
        kubeConfig: () => {
          const copy = new KubeConfig();
          copy.loadFromFile(kubeconfigPath);
          return copy;
        },
      });
    } catch (err) {
      // A free port is only free until someone else binds it.
      lastError = err;
      if (!/address already in use/.test(String(err))) throw err;
    }
  }
  throw lastError;
}
