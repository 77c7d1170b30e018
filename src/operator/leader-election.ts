// Lease-based leader election (coordination.k8s.io/v1), client-go's leaderelection package
// in small. Exactly one replica reconciles; the others keep warm caches and wait.
//
// Time is judged the way client-go judges it, to be safe against clock skew between
// replicas: a candidate never compares the lease's renewTime with its own clock. It notes
// *when it saw the lease record change* and considers the holder gone only after
// leaseDurationSeconds of its own time without a change. The leader, in turn, gives up when it
// has not renewed for renewDeadline (< leaseDuration), measured from the start of its last
// successful renew, so it stops before anyone else can consider the lease expired.
//
// Losing the lease is final for this elector: onStoppedLeading fires once and the manager
// exits the process, so the replica restarts clean (controller-runtime does the same), rather
// than trying to undo half-finished reconciles in place. A graceful stop() is not a loss: it
// releases the lease (empty holder, 1 s duration) so a standby takes over at its next retry,
// and does not call onStoppedLeading.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sleep } from './backoff.ts';
import { describeError, isConflict, isNotFound } from './kube-clients.ts';
import type { KubeClients } from './kube-clients.ts';
import { LEASES } from './resource.ts';
import { microTime } from './time.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';

export interface LeaderElectionOptions {
  namespace: string;
  /** Name of the Lease object. */
  name: string;
  /** Default: "<hostname>_<uuid>", unique per process like client-go's. */
  identity?: string;
  /** How long a standby waits without seeing a renewal before taking over (default 15 s). */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before giving up (default 10 s). */
  renewDeadlineMs?: number;
  /** Interval between acquire/renew attempts (default 2 s). */
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  /** Leadership was lost (not on a graceful stop()). */
  onStoppedLeading?: () => void;
  /** The observed holder changed (including to ourselves). */
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export class LeaderElector {
  readonly identity: string;
  readonly #clients: KubeClients;
  readonly #opts: LeaderElectionOptions;
  readonly #log: Logger;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;

  #leader = false;
  #stopped = false;
  #loop: Promise<void> | undefined;
  readonly #wake = new AbortController();
  /** The lease as last read or written, and when (our clock) its record last changed. */
  #observed: Lease | undefined;
  #observedRecord = '';
  #observedAt = 0;
  #knownLeader: string | undefined;

  constructor(clients: KubeClients, opts: LeaderElectionOptions) {
    this.#clients = clients;
    this.#opts = opts;
    this.identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
    this.#leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.#leaseDurationMs > this.#renewDeadlineMs && this.#renewDeadlineMs > this.#retryPeriodMs)) {
      throw new Error('leader election: need leaseDuration > renewDeadline > retryPeriod');
    }
    if (this.#leaseDurationMs < 1_000) throw new Error('leader election: leaseDuration is whole seconds in a Lease, at least 1 s');
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'leader-election', lease: `${opts.namespace}/${opts.name}` });
  }

  isLeader(): boolean {
    return this.#leader;
  }

  /** The holder this elector last saw (may be itself), if any. */
  currentLeader(): string | undefined {
    return this.#knownLeader;
  }

  /** Campaigns in the background; idempotent. */
  start(): void {
    if (this.#loop || this.#stopped) return;
    this.#loop = this.#run();
  }

  /** Stops campaigning/renewing; releases the lease if held and release is not false. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    this.#wake.abort();
    await this.#loop;
    if (this.#leader && opts.release !== false) await this.#release();
    this.#leader = false;
  }

  async #run(): Promise<void> {
    this.#log.info({ identity: this.identity }, 'campaigning for leadership');
    // Acquire.
    while (!this.#stopped) {
      const attemptAt = Date.now();
      if (await this.#tryAcquireOrRenew(AbortSignal.timeout(this.#renewDeadlineMs))) {
        if (this.#stopped) {
          this.#leader = true; // so stop() releases what we just acquired
          return;
        }
        this.#leader = true;
        this.#log.info({ identity: this.identity }, 'became leader');
        this.#callback(this.#opts.onStartedLeading);
        await this.#renewLoop(attemptAt);
        return;
      }
      // Jitter, so standbys do not hit the API server in lockstep.
      await sleep(this.#retryPeriodMs * (1 + Math.random() * 0.2), this.#wake.signal);
    }
  }

  async #renewLoop(firstRenewAt: number): Promise<void> {
    let lastRenewAt = firstRenewAt;
    while (!this.#stopped) {
      await sleep(this.#retryPeriodMs, this.#wake.signal);
      if (this.#stopped) return;
      const attemptAt = Date.now();
      const remaining = lastRenewAt + this.#renewDeadlineMs - attemptAt;
      const ok = remaining > 0 && (await this.#tryAcquireOrRenew(AbortSignal.timeout(remaining)));
      if (this.#stopped) return;
      if (ok) {
        lastRenewAt = attemptAt;
        continue;
      }
      const otherHolder = this.#knownLeader !== undefined && this.#knownLeader !== this.identity;
      if (otherHolder || Date.now() - lastRenewAt >= this.#renewDeadlineMs) {
        this.#leader = false;
        this.#log.error(
          { identity: this.identity, holder: this.#knownLeader, sinceLastRenewMs: Date.now() - lastRenewAt },
          'leadership lost',
        );
        this.#callback(this.#opts.onStoppedLeading);
        return;
      }
    }
  }

  /** One attempt to take or renew the lease; true when we hold it afterwards. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name } = this.#opts;
    const now = Date.now();
    const path = LEASES.apiPath(namespace, name);
    const durationSeconds = Math.ceil(this.#leaseDurationMs / 1000);
    try {
      let lease: Lease;
      try {
        lease = await this.#clients.request<Lease>({ method: 'GET', path, signal });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = await this.#clients.request<Lease>({
          method: 'POST',
          path: LEASES.apiPath(namespace),
          body: {
            apiVersion: LEASES.apiVersion,
            kind: LEASES.kind,
            metadata: { name, namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: microTime(new Date(now)),
              renewTime: microTime(new Date(now)),
              leaseTransitions: 0,
            },
          },
          signal,
        });
        this.#observe(created, Date.now());
        return true;
      }

      this.#observe(lease, now);
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const durationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (holder !== '' && holder !== this.identity && this.#observedAt + durationMs > now) return false;

      const mine = holder === this.identity;
      const updated = await this.#clients.request<Lease>({
        method: 'PUT',
        path,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: mine ? spec.acquireTime : microTime(new Date(now)),
            renewTime: microTime(new Date(now)),
            leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
          },
        },
        signal,
      });
      this.#observe(updated, Date.now());
      return true;
    } catch (err) {
      // 409: someone else wrote the lease between our read and write; they won this round.
      if (!isConflict(err)) this.#log.warn({ error: describeError(err) }, 'lease acquire/renew failed');
      return false;
    }
  }

  #observe(lease: Lease, at: number): void {
    this.#observed = lease;
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseTransitions, spec.leaseDurationSeconds]);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = at;
    }
    const holder = spec.holderIdentity || undefined;
    if (holder !== this.#knownLeader) {
      this.#knownLeader = holder;
      if (holder !== undefined) {
        this.#log.info({ holder }, 'new leader observed');
        this.#callback(() => this.#opts.onNewLeader?.(holder));
      }
    }
  }

  async #release(): Promise<void> {
    const lease = this.#observed;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    const now = microTime(new Date());
    try {
      await this.#clients.request<Lease>({
        method: 'PUT',
        path: LEASES.apiPath(this.#opts.namespace, this.#opts.name),
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
        },
        signal: AbortSignal.timeout(this.#renewDeadlineMs),
      });
      this.#log.info({ identity: this.identity }, 'lease released');
    } catch (err) {
      // Not fatal: the standby takes over after leaseDuration instead of at once.
      this.#log.warn({ error: describeError(err) }, 'could not release the lease');
    }
  }

  #callback(fn: (() => void) | undefined): void {
    try {
      fn?.();
    } catch (err) {
      this.#log.error({ err }, 'leader election callback threw');
    }
  }
}
