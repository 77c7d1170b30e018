// The tenant label of namespaces, for the controller's own tenancy check (governance/tenancy.ts).
import { AnswerCache } from '../governance/answer-cache.ts';
import { tenantOfLabels, type NamespaceTenant } from '../governance/tenancy.ts';
import { isNotFound, isTransient, type KubeClients } from '../operator/kube-clients.ts';

/**
 * Namespaces' tenant labels, read from the API server and remembered for 10 s (as access-review
 * answers are): relabelling a namespace counts for new admissions within 10 s. An answer that
 * could not be had is never remembered.
 */
export class NamespaceTenants {
  readonly #clients: Pick<KubeClients, 'core'>;
  readonly #answers: AnswerCache<NamespaceTenant>;

  constructor(clients: Pick<KubeClients, 'core'>, opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#clients = clients;
    this.#answers = new AnswerCache<NamespaceTenant>({ ttlMs: opts.ttlMs ?? 10_000, keep: (r) => r.found, ...(opts.now ? { now: opts.now } : {}) });
  }

  /** The remembered answer for the namespace, if fresh (no request, no promise). */
  remembered(namespace: string): NamespaceTenant | undefined {
    return this.#answers.peek(namespace);
  }

  of(namespace: string): Promise<NamespaceTenant> {
    return this.#answers.answer(namespace, async () => {
      try {
        const ns = await this.#clients.core.readNamespace({ name: namespace });
        return { found: true, tenant: tenantOfLabels(ns.metadata?.labels) };
      } catch (err) {
        const unavailable = isTransient(err);
        return { found: false, unavailable, message: isNotFound(err) ? 'the namespace does not exist' : `reading it failed (${err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err)})` };
      }
    });
  }
}
