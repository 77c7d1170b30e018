// One connection pool per API server configuration, instead of one per request.
//
// client-node 2.x builds a new undici Agent, that is a new connection pool, for every request
// (KubeConfig.createDispatcher, called from applySecurityAuthentication): each API call then
// opens a TCP connection and does a TLS handshake, and so does the API server on its side.
// With 1,000 executions that was the controller's largest CPU cost and a good part of each
// call's latency. Here createDispatcher hands out one pool per distinct TLS/proxy
// configuration (a rotated client certificate is a new configuration), so keep-alive
// connections are reused, as client-go does.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

const SHARED = Symbol.for('agent-machine.shared-connection-pools');

type Patchable = {
  createDispatcher?: (cluster: unknown, agentOptions: unknown) => unknown;
  createDispatcherOptions?: (cluster: unknown, agentOptions: unknown) => unknown;
  [SHARED]?: true;
};

/** Makes every client of `kc` share connection pools. Idempotent; a no-op on a client-node without these hooks. */
export function shareConnections(kc: KubeConfig): void {
  const target = kc as unknown as Patchable;
  if (target[SHARED] || typeof target.createDispatcher !== 'function' || typeof target.createDispatcherOptions !== 'function') return;
  const create = target.createDispatcher.bind(kc);
  const optionsOf = target.createDispatcherOptions.bind(kc);
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = optionsKey(optionsOf(cluster, agentOptions));
    if (!pools.has(key)) pools.set(key, create(cluster, agentOptions));
    return pools.get(key);
  };
  target[SHARED] = true;
}

/**
 * A digest of the dispatcher options. Called for every request: JSON.stringify would turn the
 * CA, certificate and key Buffers into arrays of numbers first (Buffer#toJSON), which was most
 * of its cost; here their bytes go to the hash as they are.
 */
export function optionsKey(options: unknown): string {
  const hash = createHash('sha256');
  const add = (value: unknown): void => {
    if (value instanceof Uint8Array) hash.update('b').update(String(value.byteLength)).update(':').update(value);
    else if (Array.isArray(value)) {
      hash.update('[');
      value.forEach(add);
      hash.update(']');
    } else if (value !== null && typeof value === 'object') {
      hash.update('{');
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue;
        hash.update(JSON.stringify(k)).update(':');
        add(v);
      }
      hash.update('}');
    } else hash.update(`${typeof value}:${JSON.stringify(value) ?? ''};`);
  };
  add(options);
  return hash.digest('hex');
}
