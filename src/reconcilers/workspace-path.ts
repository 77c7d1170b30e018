// Where a workspace hostPath really leads. `/tmp/project` may be a symlink to `/etc`, or to the
// folder holding the engine's socket: the path as written passes the host-path rule, the mount
// would not. The docker runtime talks to an engine on a local unix socket, so the controller
// sees the same filesystem the engine mounts from: it resolves the path here, the policy checks
// the real path too, and the real path is what gets mounted, so a link swapped after admission
// cannot redirect the mount. (Pods mount from a node the controller cannot see: not resolved.)
import { realpath } from 'node:fs/promises';
import type { ContainerSpec } from '../api/types.generated.ts';
import type { HostPathResolution } from '../governance/requests.ts';

export async function resolveWorkspace(container: ContainerSpec, runtime: 'docker' | 'kubernetes'): Promise<HostPathResolution | undefined> {
  const hostPath = container.workspace?.hostPath;
  if (hostPath === undefined || runtime !== 'docker') return undefined;
  try {
    return { resolvedHostPath: await realpath(hostPath) };
  } catch (err) {
    // Fail closed: a path the controller cannot resolve is not mounted.
    const code = (err as NodeJS.ErrnoException).code;
    return { hostPathError: code === 'ENOENT' || code === 'ENOTDIR' ? 'it does not exist on this host' : `it cannot be resolved (${code ?? 'error'})` };
  }
}
