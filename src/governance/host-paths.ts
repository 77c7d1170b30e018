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
] as const;

/** Exactly these (a sub-folder is fine): the root and whole home directories. */
export const FORBIDDEN_HOST_EXACT = ['/', '/home', '/root', '/Users'] as const;
const HOME_PARENTS = ['/home', '/Users'] as const;

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
