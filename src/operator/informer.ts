// List+watch of one ResourceType into an in-memory cache, with add/update/delete handlers
// (client-go's reflector + indexer + shared informer, reduced to what the operator needs).
//
// Failure handling, in the order the loop meets it:
//   - the watch ends normally (server-side timeoutSeconds, or the client's idle timeout):
//     re-watch at once from the last resourceVersion seen; nothing is lost or replayed;
//   - 410 Gone / Expired (an ERROR event, or the HTTP status of the watch request): the
//     resourceVersion fell out of the server's window; relist and diff against the cache,
//     emitting delete for objects that vanished, add for new ones, update for changed ones;
//   - anything else (connection refused/reset, 5xx, 403 while RBAC is being fixed): wait with
//     capped exponential backoff and retry, forever, until stop().
// Bookmarks keep the resourceVersion fresh on quiet resources, so a reconnect after a long
// idle period does not start from an RV the server has already compacted away.
//
// Every resyncPeriodMs all cached objects are re-delivered as updates (old === new), so
// reconcilers periodically re-check the world even when nothing changed (drift, expiry).
import { Watch } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Backoff, sleep } from './backoff.ts';
import { describeError, statusCodeOf } from './kube-clients.ts';
import type { KubeClients } from './kube-clients.ts';
import { objectKey } from './resource.ts';
import type { ResourceType } from './resource.ts';
import { isNewerResourceVersion } from './resource-version.ts';
import { sharedStrings, stripUnread } from './compact-object.ts';
import { Indexer, type IndexFunc } from './indexer.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';

export interface InformerHandlers<T extends KubernetesObject> {
  add?(obj: T): void;
  /** old === obj on a resync. */
  update?(obj: T, old: T): void;
  /** The last state the informer knew. */
  delete?(obj: T): void;
}

export interface InformerOptions {
  /** Only this namespace (default: all namespaces, or cluster-scoped). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often (default 5 min; 0 disables). */
  resyncPeriodMs?: number;
  /** Reconnect backoff (default 200 ms doubling to 30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Server-side timeout of each watch request. Default: random in [5, 10) min, like client-go,
   * so many informers do not all reconnect at the same moment.
   */
  watchTimeoutSeconds?: number;
  /**
   * A watch that delivers nothing (not even a bookmark) for this long is assumed dead (a
   * half-open TCP connection) and re-established from the last resourceVersion. Default 90 s.
   * Measured on kube-apiserver 1.33: bookmarks come about once a minute while resource
   * versions move anywhere in the cluster, and not at all on a completely idle one; so on a
   * busy cluster a healthy watch never hits this, and on an idle one it is re-made every 90 s.
   */
  idleTimeoutMs?: number;
  /** Page size of the list requests (default 500). */
  pageSize?: number;
  logger?: Logger;
}

type WatchOutcome = 'ended' | 'expired';

interface RawList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** One list page taking longer than this means the connection is stuck, not the server busy. */
const LIST_TIMEOUT_MS = 60_000;

export class Informer<T extends KubernetesObject = KubernetesObject> {
  readonly type: ResourceType;
  readonly #clients: KubeClients;
  readonly #opts: InformerOptions;
  readonly #log: Logger;
  readonly #cache = new Map<string, T>();
  // Untyped inside: index functions take T, which would make Informer<T> invariant in T.
  readonly #indexer = new Indexer<KubernetesObject>();
  readonly #handlers = new Set<InformerHandlers<T>>();
  readonly #backoff: Backoff;
  readonly #syncWaiters = new Set<() => void>();
  readonly #isSecret: boolean;

  #resourceVersion: string | undefined;
  #needList = true;
  #synced = false;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #abortWatch: (() => void) | undefined;
  /** Aborts the current backoff sleep (stop() or restartWatch()). */
  #wake = new AbortController();
  /** Aborts in-flight list requests on stop(). */
  readonly #stopCtl = new AbortController();
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(clients: KubeClients, type: ResourceType, opts: InformerOptions = {}) {
    this.#clients = clients;
    this.type = type;
    this.#opts = opts;
    this.#isSecret = type.group === '' && type.kind === 'Secret';
    this.#log = (opts.logger ?? silentLogger()).child({
      informer: type.plural + (type.group ? `.${type.group}` : ''),
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
    });
    this.#backoff = new Backoff({
      initialMs: opts.backoff?.initialMs ?? 200,
      maxMs: opts.backoff?.maxMs ?? 30_000,
      jitter: 0.2,
    });
  }

  /** Registers handlers; returns a function that removes them. Objects already cached are not replayed. */
  on(handlers: InformerHandlers<T>): () => void {
    this.#handlers.add(handlers);
    return () => void this.#handlers.delete(handlers);
  }

  /** Starts listing and watching in the background. Idempotent. */
  start(): void {
    if (this.#loop || this.#stopped) return;
    this.#loop = this.#run();
    const period = this.#opts.resyncPeriodMs ?? 5 * 60_000;
    if (period > 0) {
      this.#resyncTimer = setInterval(() => this.#resync(), period);
      this.#resyncTimer.unref();
    }
  }

  /** Stops watching; handlers receive nothing after this resolves. The cache stays readable. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopCtl.abort();
    clearInterval(this.#resyncTimer);
    this.#abortWatch?.();
    this.#wake.abort();
    await this.#loop;
  }

  /** True once the first list has been loaded into the cache. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once synced; rejects after timeoutMs (default: waits forever). */
  waitForSync(timeoutMs?: number): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.#syncWaiters.delete(done);
        resolve();
      };
      this.#syncWaiters.add(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#syncWaiters.delete(done);
          reject(new Error(`informer ${this.type.plural}: not synced after ${timeoutMs} ms`));
        }, timeoutMs);
      }
    });
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /**
   * Adds a named index, kept with the cache from now on (objects already cached are filed at
   * once). Several controllers may add the same index (same name, same function).
   */
  addIndex(name: string, fn: IndexFunc<T>): void {
    this.#indexer.define(name, fn as IndexFunc<KubernetesObject>, this.#cache);
  }

  /** Cached objects filed under value in the named index. */
  byIndex(name: string, value: string): T[] {
    const out: T[] = [];
    for (const key of this.#indexer.keys(name, value)) out.push(this.#cache.get(key)!);
    return out;
  }

  /** Keys of the cached objects filed under value in the named index (a live view: do not keep it). */
  indexKeys(name: string, value: string): ReadonlySet<string> {
    return this.#indexer.keys(name, value);
  }

  /**
   * Read-your-writes: `obj` is a write of this process as the API server answered it. When it
   * is newer than the cached copy it is applied like the watch event it will become: cached
   * and handed to the update handlers now. So a reconcile that runs before the watch delivers
   * the write (a lagging or reconnecting watch) does not act on the state from before it
   * (report a container it just finished and removed as lost, audit a decision twice), and
   * whoever waits on the change hears of it even if the watch event is lost to a 410 relist,
   * whose diff would find nothing new. Older events arriving afterwards do not undo it (see
   * #isBehind). Objects not cached are left to the watch.
   */
  observe(obj: T): void {
    const key = objectKey(obj);
    const cached = this.#cache.get(key);
    if (!cached || cached.metadata?.uid !== obj.metadata?.uid) return;
    if (!isNewerResourceVersion(obj.metadata?.resourceVersion, cached.metadata?.resourceVersion)) return;
    const item = this.#compact(obj);
    this.#store(key, item);
    this.#emit('update', item, cached);
  }

  /**
   * An incoming copy no newer than the cached one: the cached one came from observe(), and
   * this is the watch's echo of that write (the same version, already handed to the handlers)
   * or an older one. Handing the echo on again would reconcile every object once more after
   * each of this process's own writes, for nothing (issue 20: half of all reconciles).
   */
  #isBehind(incoming: T, cached: T | undefined): boolean {
    if (cached === undefined || cached.metadata?.uid !== incoming.metadata?.uid) return false;
    const had = cached.metadata?.resourceVersion;
    return (had !== undefined && had === incoming.metadata?.resourceVersion) || isNewerResourceVersion(had, incoming.metadata?.resourceVersion);
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Drops the current watch and starts the next one at once, from `fromResourceVersion` when
   * given (else from the last one seen). For tests and debugging: watching from an RV the
   * server no longer has (e.g. "1") drives the 410 → relist path against a real server.
   */
  restartWatch(fromResourceVersion?: string): void {
    if (fromResourceVersion !== undefined) this.#resourceVersion = fromResourceVersion;
    this.#abortWatch?.();
    this.#wake.abort();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#wake = new AbortController();
      let watchStarted = 0;
      try {
        if (this.#needList) {
          await this.#listAndDiff();
          this.#needList = false;
          this.#backoff.reset();
        }
        watchStarted = Date.now();
        const outcome = await this.#watchOnce();
        if (outcome === 'expired') {
          this.#log.info({ resourceVersion: this.#resourceVersion }, 'watch expired (410), relisting');
          this.#needList = true;
        } else if (Date.now() - watchStarted < 1_000 && !this.#stopped && !this.#wake.signal.aborted) {
          // A watch that ends right away every time would spin; treat it as a failure.
          await sleep(this.#backoff.next(), this.#wake.signal);
        } else {
          this.#backoff.reset();
        }
      } catch (err) {
        if (this.#stopped) break;
        // A watch that served for a while before it broke starts a fresh backoff sequence:
        // an outage hours ago must not make today's first reconnect wait 30 s.
        if (watchStarted > 0 && Date.now() - watchStarted > 10_000) this.#backoff.reset();
        if (statusCodeOf(err) === 410) {
          this.#log.info({ resourceVersion: this.#resourceVersion }, 'resourceVersion too old (410), relisting');
          this.#needList = true;
          continue;
        }
        const delay = this.#backoff.next();
        this.#log.warn(
          { error: describeError(err), retryInMs: Math.round(delay), failures: this.#backoff.failures },
          this.#needList ? 'list failed' : 'watch failed',
        );
        await sleep(delay, this.#wake.signal);
      }
    }
  }

  async #listAndDiff(): Promise<void> {
    const fresh = new Map<string, T>();
    let listRv: string | undefined;
    let cont: string | undefined;
    do {
      // Raw JSON, so the list meta has 'continue' (client-node's typed V1ListMeta calls it _continue).
      const page = await this.#clients.request<RawList<T>>({
        method: 'GET',
        path: this.type.apiPath(this.#opts.namespace),
        query: {
          limit: this.#opts.pageSize ?? 500,
          continue: cont,
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
        },
        signal: AbortSignal.any([this.#stopCtl.signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]),
      });
      for (const item of page.items) {
        // List items of core kinds come without apiVersion/kind; handlers expect them.
        item.apiVersion ??= this.type.apiVersion;
        item.kind ??= this.type.kind;
        const obj = this.#compact(item);
        fresh.set(objectKey(obj), obj);
      }
      listRv = page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    if (this.#stopped) return;

    // Deletes first: a handler that counts objects never sees old and new side by side.
    for (const [key, old] of this.#cache) {
      if (!fresh.has(key)) {
        this.#drop(key);
        this.#emit('delete', old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.#cache.get(key);
      if (this.#isBehind(obj, old)) continue;
      this.#store(key, obj);
      if (!old) this.#emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#emit('update', obj, old);
    }
    this.#resourceVersion = listRv;
    if (!this.#synced) {
      this.#synced = true;
      this.#log.debug({ objects: this.#cache.size, resourceVersion: listRv }, 'synced');
      for (const waiter of [...this.#syncWaiters]) waiter();
    }
  }

  #watchOnce(): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve, reject) => {
      let settled = false;
      let failure: 'expired' | Error | undefined;
      const finish = (err: unknown): void => {
        if (settled) return;
        settled = true;
        this.#abortWatch = undefined;
        if (failure === 'expired') resolve('expired');
        else if (failure) reject(failure);
        // Our own abort (stop/restart) and the idle timeout are normal ends.
        else if (err && !this.#stopped && !isAbortOrTimeout(err)) reject(err);
        else resolve('ended');
      };

      const watch = new Watch(this.#clients.kubeConfig);
      // Watch's only timeout is a private 30 s idle timer (also its connect timeout); with
      // bookmarks about once a minute, 30 s would tear down every quiet watch. It is a plain
      // field at runtime.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.#opts.idleTimeoutMs ?? 90_000;
      const timeoutSeconds = this.#opts.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);

      watch
        .watch(
          this.type.apiPath(this.#opts.namespace),
          {
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.#opts.labelSelector,
            fieldSelector: this.#opts.fieldSelector,
          },
          (phase: string, obj: unknown) => {
            if (settled || this.#stopped || failure) return;
            const result = this.#onEvent(phase, obj);
            if (result) {
              failure = result;
              this.#abortWatch?.();
            }
          },
          finish,
        )
        .then(
          (controller) => {
            if (settled) return;
            this.#abortWatch = () => controller.abort();
            if (this.#stopped || failure) controller.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }

  /** Applies one watch event; returns what ends the watch (410 or another ERROR), if anything. */
  #onEvent(phase: string, raw: unknown): 'expired' | Error | undefined {
    if (phase === 'ERROR') {
      const status = (raw ?? {}) as { code?: number; reason?: string; message?: string };
      if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') return 'expired';
      const err = new Error(`watch ERROR event: ${status.code ?? '?'} ${status.reason ?? ''} ${status.message ?? ''}`.trim());
      (err as Error & { statusCode?: number }).statusCode = status.code;
      return err;
    }
    const obj = raw as T;
    const rv = obj?.metadata?.resourceVersion;
    if (phase === 'BOOKMARK') {
      if (rv) this.#resourceVersion = rv;
      return undefined;
    }
    if (!obj?.metadata?.name) return undefined;
    const item = this.#compact(obj);
    const key = objectKey(item);
    if (phase === 'ADDED' || phase === 'MODIFIED') {
      const old = this.#cache.get(key);
      if (this.#isBehind(item, old)) {
        if (rv) this.#resourceVersion = rv;
        return undefined;
      }
      this.#store(key, item);
      if (old) this.#emit('update', item, old);
      else this.#emit('add', item);
    } else if (phase === 'DELETED') {
      this.#drop(key);
      this.#emit('delete', item);
    }
    if (rv) this.#resourceVersion = rv;
    return undefined;
  }

  /** The cache and its indexes change together, before handlers hear of it. */
  #store(key: string, obj: T): void {
    this.#cache.set(key, obj);
    this.#indexer.put(key, obj);
  }

  #drop(key: string): void {
    this.#cache.delete(key);
    this.#indexer.remove(key);
  }

  #resync(): void {
    if (!this.#synced || this.#stopped) return;
    for (const obj of this.#cache.values()) this.#emit('update', obj, obj);
  }

  /** What the cache keeps of an incoming object: see compact-object.ts. */
  #compact(obj: T): T {
    stripUnread(obj);
    // Secret values stay in their own object only: a shared table would keep a rotated or
    // deleted credential alive after its Secret is gone.
    if (!this.#isSecret) sharedStrings.internObject(obj);
    return obj;
  }

  #emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.#handlers) {
      try {
        if (kind === 'add') h.add?.(obj);
        else if (kind === 'update') h.update?.(obj, old ?? obj);
        else h.delete?.(obj);
      } catch (err) {
        // A faulty handler must not break the watch or starve the other handlers.
        this.#log.error({ err, event: kind, key: objectKey(obj) }, 'informer handler threw');
      }
    }
  }
}

function isAbortOrTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}
