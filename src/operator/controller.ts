// A Controller ties informers to a work queue and a reconcile function
// (controller-runtime's Reconcile contract, kube-rs's Controller::run):
//   - events of the primary kind enqueue the object's key;
//   - events of related kinds (owned Pods, referenced profiles...) enqueue the keys their
//     map function returns (usually the owner);
//   - reconcile(key) reads current state (from the informer cache) and drives the world
//     towards it. It is level-based: it gets a key, never an event, and must be idempotent;
//   - it returns nothing (done), or { requeueAfterMs } to be looked at again later (deadlines,
//     expiry, polling something that has no watch);
//   - it throws: the key is retried with per-key exponential backoff (error policy).
// A reconcile error never escapes: it is counted, logged with the key, and retried.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer } from './informer.ts';
import { keyOf, objectKey } from './resource.ts';
import { WorkQueue } from './work-queue.ts';
import { describeError } from './kube-clients.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';

export interface ReconcileResult {
  /** Reconcile this key again after this many ms (in addition to any event). */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  /** Child logger bound to { controller, key }. */
  log: Logger;
  /** How many times in a row this key has failed so far (0 on a fresh key). */
  attempt: number;
}

export type Reconcile = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** Maps an object of a related kind to the primary keys it affects. */
export type MapFn = (obj: KubernetesObject) => string[];

export interface Watched {
  informer: Informer;
  map: MapFn;
}

export interface ControllerOptions {
  /** Kind of the primary resource; labels logs and metrics. */
  kind: string;
  /** Informer of the primary resource. */
  informer: Informer;
  /** Related informers and how their objects map to primary keys. */
  watches?: Watched[];
  reconcile: Reconcile;
  /** Parallel reconciles of different keys (default 1). */
  concurrency?: number;
  /** Failure backoff per key (default 100 ms doubling to 5 min). */
  backoff?: { baseDelayMs?: number; maxDelayMs?: number };
  logger?: Logger;
  metrics?: OperatorMetrics;
  /**
   * What of the primary object this controller's decision depends on: an update that leaves it
   * unchanged is not enqueued (controller-runtime's predicates). Absent: every update is. Adds,
   * deletes and resyncs of the same object (no change at all) are unaffected by it.
   */
  decidesOn?: (obj: KubernetesObject) => string;
}

export class Controller {
  readonly kind: string;
  readonly queue: WorkQueue;
  readonly #opts: ControllerOptions;
  readonly #log: Logger;
  readonly #unsubscribe: Array<() => void> = [];

  constructor(opts: ControllerOptions) {
    this.kind = opts.kind;
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger()).child({ controller: opts.kind });
    this.queue = new WorkQueue((key) => this.#reconcileOne(key), {
      concurrency: opts.concurrency ?? 1,
      baseDelayMs: opts.backoff?.baseDelayMs,
      maxDelayMs: opts.backoff?.maxDelayMs,
      onError: (key, err) => {
        // #reconcileOne catches everything; reaching here means its bookkeeping threw.
        this.#log.error({ key, error: describeError(err) }, 'reconcile bookkeeping failed');
        this.queue.addRateLimited(key);
      },
    });

    // Handlers are registered now, so events that arrive before start() (while waiting for
    // leadership) queue up as keys and are reconciled as soon as the workers start.
    const enqueue = (obj: KubernetesObject): void => this.queue.add(objectKey(obj));
    const decidesOn = opts.decidesOn;
    // A resync hands the same object again (old === new by resourceVersion): always enqueued.
    const onUpdate = decidesOn
      ? (obj: KubernetesObject, old?: KubernetesObject): void => {
          if (!old || old.metadata?.resourceVersion === obj.metadata?.resourceVersion || decidesOn(old) !== decidesOn(obj)) enqueue(obj);
        }
      : enqueue;
    this.#unsubscribe.push(opts.informer.on({ add: enqueue, update: onUpdate, delete: enqueue }));
    for (const w of opts.watches ?? []) {
      const mapped = (obj: KubernetesObject): void => {
        for (const key of w.map(obj)) this.queue.add(key);
      };
      this.#unsubscribe.push(w.informer.on({ add: mapped, update: mapped, delete: mapped }));
    }
    if (opts.metrics) this.#unsubscribe.push(opts.metrics.trackQueueDepth(opts.kind, () => this.queue.depth()));
  }

  /** Every informer this controller reads (the manager starts them and waits for sync). */
  informers(): Informer[] {
    return [this.#opts.informer, ...(this.#opts.watches ?? []).map((w) => w.informer)];
  }

  /** Starts the workers (the manager calls it once leader). */
  start(): void {
    this.#log.info({ concurrency: this.#opts.concurrency ?? 1 }, 'starting workers');
    this.queue.start();
  }

  /** Stops taking work and waits up to timeoutMs for in-flight reconciles; true if drained. */
  async shutdown(timeoutMs = 30_000): Promise<boolean> {
    for (const off of this.#unsubscribe.splice(0)) off();
    const drained = await this.queue.shutdown(timeoutMs);
    if (!drained) this.#log.warn({ inFlight: this.queue.inFlight() }, 'shutdown timed out with reconciles in flight');
    return drained;
  }

  async #reconcileOne(key: string): Promise<void> {
    const { kind, metrics } = this.#opts;
    // Made when first used: most reconciles log nothing, and a pino child (bindings serialised
    // and redacted) per reconcile was a few percent of the controller's CPU in a burst.
    let child: Logger | undefined;
    const parent = this.#log;
    const ctx: ReconcileContext = {
      get log() {
        return (child ??= parent.child({ key }));
      },
      attempt: this.queue.numRequeues(key),
    };
    const started = performance.now();
    let result: 'success' | 'requeue' | 'error' = 'success';
    try {
      const res = await this.#opts.reconcile(key, ctx);
      this.queue.forget(key);
      if (res?.requeueAfterMs !== undefined && res.requeueAfterMs >= 0) {
        result = 'requeue';
        this.queue.addAfter(key, res.requeueAfterMs);
      }
    } catch (err) {
      result = 'error';
      metrics?.reconcileErrors.inc({ kind });
      const retryInMs = this.queue.addRateLimited(key);
      // The error object goes to the logger (redacted there): API error bodies can carry data.
      ctx.log.error({ err, error: describeError(err), retryInMs, failures: this.queue.numRequeues(key) }, 'reconcile failed');
    } finally {
      metrics?.reconcileTotal.inc({ kind, result });
      metrics?.reconcileDuration.observe({ kind }, (performance.now() - started) / 1000);
    }
  }
}

/**
 * Map function for owned objects: the keys of their controller/owner references of ownerKind.
 * Owner references carry no namespace; a namespaced owner lives in the object's namespace
 * (cross-namespace owners are not allowed), a cluster-scoped owner has none.
 */
export function ownerKeys(ownerKind: string, ownerNamespaced: boolean): MapFn {
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((ref) => ref.kind === ownerKind)
      .map((ref) => keyOf(ref.name, ownerNamespaced ? obj.metadata?.namespace : undefined));
}
