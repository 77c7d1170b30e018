// A real node (containerd + kubelet + kube-scheduler + kube-controller-manager, src/dev/local-node.ts)
// for the test file that calls startTestNode(), against the run's shared API server. Started once
// per file (it takes seconds), stopped in its `after`.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalNode } from '../../src/dev/local-node.ts';
import type { LocalNode, LocalNodeOptions } from '../../src/dev/local-node.ts';
import { NODE_USER, controlPlaneParts, kubeconfigPath, sandboxImage } from './integration-env.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface NodeRuntime {
  binDir: string;
  cniBinDir: string;
  pauseImage: string;
}

/** What the node needs, installed or built when missing (scripts/ensure-node-runtime.sh; cached). */
export function nodeRuntime(): NodeRuntime {
  const out = execFileSync('bash', [join(root, 'scripts/ensure-node-runtime.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [binDir, cniBinDir, pauseImage] = out.trim().split('\n') as [string, string, string];
  return { binDir, cniBinDir, pauseImage };
}

/** extra: what a file needs beyond Pods, e.g. the controllers of an in-cluster install (in-cluster-install.test.ts). */
export async function startTestNode(log: (msg: string) => void = (m) => console.log(m), extra: Pick<LocalNodeOptions, 'extraControllers' | 'images' | 'rootCaFile'> = {}): Promise<LocalNode> {
  const rt = nodeRuntime();
  return startLocalNode({
    ...rt,
    ...extra,
    images: [sandboxImage(), ...(extra.images ?? [])],
    ...(process.env.CONTAINERS_CONF ? { containersConf: process.env.CONTAINERS_CONF } : {}),
    adminKubeconfigPath: kubeconfigPath(),
    kubeletKubeconfigPath: kubeconfigPath(NODE_USER.name),
    serviceAccountKeyPath: join(controlPlaneParts().dataDir, 'pki', 'sa.key'),
    log,
  });
}
