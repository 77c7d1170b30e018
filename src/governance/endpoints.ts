// Where a model endpoint points, decided from the parsed URL only: no DNS lookups, so a name
// that resolves elsewhere later cannot change an earlier decision (the gateway connects to the
// same URL it was allowed for).

export type ParsedEndpoint = { url: URL; hostname: string; port: number };

export function parseEndpoint(endpoint: string): ParsedEndpoint | { error: string } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    // Not echoed: a mangled URL may still contain a token, and this message lands in status.
    return { error: 'endpoint is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `endpoint scheme ${url.protocol} is not http or https` };
  // Credentials in the URL would end up in status, logs and audit records.
  if (url.username !== '' || url.password !== '') return { error: 'endpoint must not carry credentials in the URL (use credentialsSecretRef)' };
  if (url.hostname === '') return { error: 'endpoint has no host' };
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { url, hostname: url.hostname, port };
}

// WHATWG URL parsing already canonicalises IPv4 (`127.1`, `0x7f.0.0.1` → `127.0.0.1`) and
// brackets IPv6, so these string checks see one spelling per address.
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Link-local addresses and the names of cloud instance-metadata services: no model is served
 * there, and a probe or a forwarded call would have the controller (or the gateway) fetch the
 * node's metadata, possibly its cloud credentials. Literal addresses and well-known names only
 * (this file does no DNS): a name resolving to such an address later is not caught here.
 */
export function isMetadataOrLinkLocalHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (/^169\.254\.\d{1,3}\.\d{1,3}$/.test(h)) return true; // IPv4 link-local, AWS/GCP/Azure metadata
  if (h === '100.100.100.200') return true; // Alibaba Cloud metadata
  if (/^\[fe[89ab][0-9a-f]?:/.test(h)) return true; // IPv6 link-local fe80::/10
  if (h === '[fd00:ec2::254]') return true; // AWS metadata over IPv6
  if (/^\[::ffff:a9fe:[0-9a-f]{1,4}\]$/.test(h)) return true; // IPv4-mapped 169.254.x.x
  return h === 'metadata' || h === 'metadata.google.internal' || h === 'metadata.azure.internal' || h === 'instance-data' || h.startsWith('instance-data.');
}

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const CLUSTER_LOCAL = new RegExp(`^(${LABEL}\\.)+svc(\\.cluster\\.local)?$`);

/** `name.namespace.svc` or `name.namespace.svc.cluster.local`. */
export function isClusterLocalHost(hostname: string): boolean {
  return CLUSTER_LOCAL.test(hostname);
}

export function isLocalHost(hostname: string): boolean {
  return isLoopbackHost(hostname) || isClusterLocalHost(hostname);
}

/**
 * Allowlist entries are `host`, `*.domain` (any subdomain, not the domain itself), each with
 * an optional `:port`. An entry without a port allows any port of that host.
 */
export function hostAllowed(endpoint: ParsedEndpoint, allowed: readonly string[]): string | undefined {
  return allowed.find((entry) => {
    const match = /^(\*\.)?([^:]+)(?::(\d{1,5}))?$/.exec(entry.toLowerCase());
    if (!match) return false;
    const [, wildcard, host = '', port] = match;
    if (port !== undefined && Number(port) !== endpoint.port) return false;
    return wildcard ? endpoint.hostname.endsWith(`.${host}`) : endpoint.hostname === host;
  });
}
