// Which host folders an agent may read and where it may write. A deny list of host paths is a
// floor, not a fence: it stops the mounts that hand over the machine (system trees, runtime
// sockets, cluster credentials, whole home directories); anything finer is a CEL rule.
// The check is on the path as written and, where the controller shares the host with the
// engine (docker runtime), on the path with its symlinks resolved: that real path is also
// what gets mounted (reconcilers/workspace-path.ts). The kubernetes runtime mounts from a
// node the controller cannot look at; there only the path as written is checked.

/** These and everything below them. */
export const FORBIDDEN_HOST_TREES = [
  '/etc',
  '/proc',
  '/sys',
  '/dev',
  '/boot',
  '/run',
  '/var/run',
  '/var/lib/kubelet',
  '/var/lib/rancher',
  '/var/lib/containers',
  '/var/lib/docker',
  // The control plane's and the node runtime's own state: the cluster's database and every
  // Secret in it, node credentials, images and their layers.
  '/var/lib/etcd',
  '/var/lib/containerd',
  '/var/lib/k0s',
  '/var/lib/minikube',
] as const;

/** Exactly these (a sub-folder is fine): the root and whole home directories. */
export const FORBIDDEN_HOST_EXACT = ['/', '/home', '/root', '/Users'] as const;
const HOME_PARENTS = ['/home', '/Users'] as const;

/**
 * Credential and key stores, relative to a home directory (any user's, and /root): keys,
 * cloud and cluster credentials, registry and package-index tokens, keyrings, password stores.
 */
export const HOME_CREDENTIAL_STORES = [
  '.ssh',
  '.gnupg',
  '.kube',
  '.aws',
  '.azure',
  '.config/gcloud',
  '.oci',
  '.docker',
  '.config/containers',
  '.config/gh',
  '.config/hub',
  '.git-credentials',
  '.netrc',
  '.npmrc',
  '.pypirc',
  '.cargo/credentials',
  '.cargo/credentials.toml',
  '.m2/settings.xml',
  '.gradle/gradle.properties',
  '.terraform.d',
  '.vault-token',
  '.password-store',
  '.local/share/keyrings',
  '.pki',
] as const;

/** Where confined profiles let containers write. */
export const CONFINED_OUTPUT_ROOTS = ['/workspace/out', '/out'] as const;

/** Absolute, no empty, `.` or `..` segments, no trailing slash, no NUL. */
export function isNormalizedAbsolute(path: string): boolean {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096 || path.includes('\0')) return false;
  if (path === '/') return true;
  if (!path.startsWith('/') || path.endsWith('/')) return false;
  return path
    .slice(1)
    .split('/')
    .every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/** Why a host path may not be mounted, or undefined when it may. */
export function forbiddenHostPath(path: string): string | undefined {
  if (!isNormalizedAbsolute(path)) return `host path ${JSON.stringify(path)} is not a normalized absolute path`;
  if ((FORBIDDEN_HOST_EXACT as readonly string[]).includes(path)) return `host path ${path} exposes the whole machine or every home directory`;
  const tree = FORBIDDEN_HOST_TREES.find((t) => isWithin(path, t));
  if (tree !== undefined) return `host path ${path} is inside ${tree}, which is never mounted`;
  const parent = HOME_PARENTS.find((p) => path.startsWith(`${p}/`) && !path.slice(p.length + 1).includes('/'));
  if (parent !== undefined) return `host path ${path} is a whole home directory; mount a project folder inside it`;
  return undefined;
}

/** The home directory a path is in (/home/<user>, /Users/<user>, /root), if any. */
function homeOf(path: string): string | undefined {
  if (isWithin(path, '/root')) return '/root';
  for (const parent of HOME_PARENTS) {
    if (!path.startsWith(`${parent}/`)) continue;
    const user = path.slice(parent.length + 1).split('/')[0];
    return user ? `${parent}/${user}` : undefined;
  }
  return undefined;
}

/**
 * The credential store a mount of `path` would expose: the store itself, a file or folder in
 * it, or a folder holding it (mounting ~/.config exposes ~/.config/gcloud). Undefined when none.
 */
export function credentialStoreIn(path: string): string | undefined {
  const home = homeOf(path);
  if (home === undefined) return undefined;
  for (const store of HOME_CREDENTIAL_STORES) {
    const full = `${home}/${store}`;
    if (isWithin(path, full) || (path !== home && isWithin(full, path))) return full;
  }
  return undefined;
}

/** Whether a profile's spec.credentialMounts names the store a mount of `path` exposes. */
export function credentialMountAllowed(path: string, credentialMounts: readonly string[] | undefined): boolean {
  return (credentialMounts ?? []).some((named) => isNormalizedAbsolute(named) && isWithin(path, named));
}
