// Writes an object's status through its /status subresource with a JSON merge patch.
//
// - Skips the write when the desired status equals the one in the (cached) object: a
//   reconciler's own status update comes back as a watch event and reconciles the object
//   again; without the skip that would write, trigger, write... forever.
// - Sends only the difference (removed fields as null), never metadata.resourceVersion: the
//   controller is the only writer of status, so a last-writer-wins patch is what we want and
//   a spec change in between cannot make it fail. (controller-runtime's Status().Patch with
//   MergeFrom does the same.)
// - observedGeneration is set from metadata.generation unless the caller set it, so kstatus,
//   Argo CD, Flux and `kubectl wait` can tell a stale status from a current one.
// - 409 and transient failures (5xx, 429, network) are retried with backoff, a bounded number
//   of times; 404 means the object was deleted meanwhile, which is not an error.
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { backoffDelay, sleep } from './backoff.ts';
import { describeError, isConflict, isNotFound, isTransient } from './kube-clients.ts';
import type { KubeClients } from './kube-clients.ts';
import { createMergePatch, jsonEqual } from './merge-patch.ts';
import type { ResourceType } from './resource.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';

export type StatusWriteResult<T extends KubernetesObject = KubernetesObject> =
  | { outcome: 'written'; object: T }
  | { outcome: 'unchanged' }
  | { outcome: 'gone' };

export interface StatusWriterOptions {
  /** Attempts per write, the first included (default 5). */
  maxAttempts?: number;
  /** Backoff between attempts (default 100 ms doubling to 3 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Recorded in managedFields (default 'agent-machine'). */
  fieldManager?: string;
  logger?: Logger;
  /** Told about every written object as the API server returned it (e.g. Informer.observe). */
  onWritten?: (type: ResourceType, obj: KubernetesObject) => void;
}

export type WithStatus = KubernetesObject & { status?: unknown };

export class StatusWriter {
  readonly #clients: KubeClients;
  readonly #opts: StatusWriterOptions;
  readonly #log: Logger;

  constructor(clients: KubeClients, opts: StatusWriterOptions = {}) {
    this.#clients = clients;
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'status-writer' });
  }

  /**
   * Makes obj's status equal `status` (plus observedGeneration). `obj` is the object the
   * reconciler read, normally from the informer cache: its status is the baseline compared
   * against and diffed from.
   */
  async write<T extends WithStatus>(type: ResourceType, obj: T, status: Record<string, unknown>): Promise<StatusWriteResult<T>> {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`${type.kind}: cannot write status of an object without a name`);
    const generation = obj.metadata?.generation;
    const desired = status.observedGeneration === undefined && generation !== undefined ? { ...status, observedGeneration: generation } : status;
    const current = obj.status ?? {};
    if (jsonEqual(current, desired)) return { outcome: 'unchanged' };
    const patch = createMergePatch(current, desired);
    if (patch === undefined) return { outcome: 'unchanged' };

    const path = type.apiPath(obj.metadata?.namespace, name, 'status');
    const maxAttempts = this.#opts.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        const object = await this.#clients.request<T>({
          method: 'PATCH',
          path,
          query: { fieldManager: this.#opts.fieldManager ?? 'agent-machine' },
          body: { status: patch },
          contentType: PatchStrategy.MergePatch,
          signal: AbortSignal.timeout(30_000),
        });
        this.#opts.onWritten?.(type, object);
        return { outcome: 'written', object };
      } catch (err) {
        if (isNotFound(err)) return { outcome: 'gone' };
        if (!(isConflict(err) || isTransient(err)) || attempt >= maxAttempts) throw err;
        const delay = backoffDelay(attempt, {
          initialMs: this.#opts.backoff?.initialMs ?? 100,
          maxMs: this.#opts.backoff?.maxMs ?? 3_000,
          jitter: 0.2,
        });
        this.#log.warn({ path, attempt, retryInMs: Math.round(delay), error: describeError(err) }, 'status write failed, retrying');
        await sleep(delay);
      }
    }
  }
}
