// Image references, parsed the way container runtimes resolve them, so the registry a policy
// checks is the registry the image comes from. Runtimes must pull `normalized`, not the short
// name: podman resolves short names through registries.conf, which could be any registry.

export type ImageRef = {
  registry: string;
  /** Path inside the registry; Docker Hub official images get `library/`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` when pinned. */
  digest?: string;
  /** registry/repository[:tag][@digest], fully qualified. */
  normalized: string;
};

export const DEFAULT_REGISTRY = 'docker.io';

const COMPONENT = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
const REGISTRY = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** The part before the first `/` is a registry when it looks like a host: has `.` or `:`, or is `localhost`. */
function splitRegistry(name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  if (slash > 0) {
    const first = name.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') return { registry: first, path: name.slice(slash + 1) };
  }
  return { registry: DEFAULT_REGISTRY, path: name };
}

export function parseImageRef(image: string): ImageRef | undefined {
  if (typeof image !== 'string' || image.length === 0 || image.length > 512) return undefined;
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  if (digest !== undefined && !DIGEST.test(digest)) return undefined;
  const name = at >= 0 ? image.slice(0, at) : image;

  const { registry, path } = splitRegistry(name);
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  const tag = colon >= 0 ? path.slice(colon + 1) : undefined;
  let repository = colon >= 0 ? path.slice(0, colon) : path;
  if (tag !== undefined && !TAG.test(tag)) return undefined;
  if (!REGISTRY.test(registry) || repository.length === 0 || !repository.split('/').every((c) => COMPONENT.test(c))) return undefined;
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;

  const normalized = `${registry}/${repository}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}), normalized };
}

/**
 * An allowlist entry is a registry (`ghcr.io`, `localhost:5000`) or a registry plus a path
 * prefix (`ghcr.io/acme`), matched on whole path components.
 */
export function registryAllowed(ref: ImageRef, allowed: readonly string[]): string | undefined {
  const full = `${ref.registry}/${ref.repository}`;
  return allowed.find((entry) => {
    const trimmed = entry.replace(/\/+$/, '');
    return trimmed === ref.registry || full === trimmed || full.startsWith(`${trimmed}/`);
  });
}
