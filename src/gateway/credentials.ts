// The provider credentials, read from the Secrets bindings name (credentialsSecretRef) and kept
// in memory so the gateway's hot path makes no API call: the binding reconciler refreshes an
// entry on every probe, the gateway reads one on a miss and refreshes entries older than
// maxAgeMs in the background (stale-while-revalidate), so a rotated key is picked up within a
// minute. Values never leave this module except as a request header to the provider.
import type { SecretKeyRef } from '../api/types.generated.ts';
import { isNotFound, type KubeClients } from '../operator/kube-clients.ts';

export type CredentialLookup = { found: true; value: string } | { found: false; message: string };

interface Entry {
  lookup: CredentialLookup;
  at: number;
  refreshing?: Promise<CredentialLookup>;
}

export class CredentialCache {
  readonly #clients: KubeClients;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, Entry>();

  constructor(clients: KubeClients, opts: { maxAgeMs?: number } = {}) {
    this.#clients = clients;
    this.#maxAgeMs = opts.maxAgeMs ?? 60_000;
  }

  /** Reads the Secret now and caches the answer (the binding reconciler's probe path). */
  async read(namespace: string, ref: SecretKeyRef): Promise<CredentialLookup> {
    const key = keyOf(namespace, ref);
    const lookup = await this.#fetch(namespace, ref);
    this.#entries.set(key, { lookup, at: Date.now() });
    return lookup;
  }

  /** The cached value (refreshed in the background when old), or a read on a miss. */
  get(namespace: string, ref: SecretKeyRef): CredentialLookup | Promise<CredentialLookup> {
    const key = keyOf(namespace, ref);
    const entry = this.#entries.get(key);
    if (!entry) return this.read(namespace, ref);
    if (Date.now() - entry.at > this.#maxAgeMs && !entry.refreshing) {
      entry.refreshing = this.#fetch(namespace, ref).then(
        (lookup) => {
          this.#entries.set(key, { lookup, at: Date.now() });
          return lookup;
        },
        () => {
          // Keep serving the last value; try again on a later call.
          entry.at = Date.now() - this.#maxAgeMs / 2;
          entry.refreshing = undefined;
          return entry.lookup;
        },
      );
    }
    return entry.lookup;
  }

  forget(namespace: string, ref: SecretKeyRef): void {
    this.#entries.delete(keyOf(namespace, ref));
  }

  /** Every value held, for scrubbing upstream error bodies. */
  values(): string[] {
    return [...this.#entries.values()].flatMap((e) => (e.lookup.found ? [e.lookup.value] : []));
  }

  async #fetch(namespace: string, ref: SecretKeyRef): Promise<CredentialLookup> {
    try {
      const secret = await this.#clients.core.readNamespacedSecret({ name: ref.name, namespace });
      const encoded = secret.data?.[ref.key];
      if (encoded === undefined) return { found: false, message: `secret ${ref.name} has no key ${ref.key}` };
      const value = Buffer.from(encoded, 'base64').toString('utf8').trim();
      if (value === '') return { found: false, message: `secret ${ref.name} key ${ref.key} is empty` };
      return { found: true, value };
    } catch (err) {
      if (isNotFound(err)) return { found: false, message: `secret ${ref.name} not found in namespace ${namespace}` };
      throw err;
    }
  }
}

function keyOf(namespace: string, ref: SecretKeyRef): string {
  return `${namespace}/${ref.name}/${ref.key}`;
}
