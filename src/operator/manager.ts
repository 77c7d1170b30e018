// The Manager runs everything one controller process needs, in order (controller-runtime's
// manager):
//   start:    health/metrics server → informers → wait until every cache is synced →
//             leader election → (once leader) the controllers' workers.
//   shutdown: (SIGTERM/SIGINT) readiness goes false → controllers stop taking work and drain
//             in-flight reconciles (bounded) → the lease is released, so a standby takes over
//             at its next retry instead of after leaseDuration → informers stop → the server
//             closes → exit 0.
//   lost leadership: exit 1 at once. Another replica may already be reconciling; finishing
//             our reconciles would race it. The restarted pod becomes a standby.
//
// Probes: /healthz is liveness (the event loop answers and leadership was not lost).
// /readyz is true once every informer has synced, for the leader AND for standbys: a standby
// with warm caches is healthy and ready to take over, and counting it unready would stall
// rolling updates of a Deployment with more than one replica. /readyz goes false as soon as
// shutdown starts. Whether this replica reconciles is visible in the logs and the Lease.
import type { Controller } from './controller.ts';
import type { Informer } from './informer.ts';
import type { KubeClients } from './kube-clients.ts';
import { LeaderElector } from './leader-election.ts';
import type { LeaderElectionOptions } from './leader-election.ts';
import { startHealthServer } from '../observability/health-server.ts';
import type { HealthServer } from '../observability/health-server.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';

export interface ManagerOptions {
  clients: KubeClients;
  logger?: Logger;
  metrics?: OperatorMetrics;
  /** Health/metrics server address (default 127.0.0.1:8080); false to run none. */
  health?: { host?: string; port?: number } | false;
  /** Lease to elect a leader on; false to reconcile without election (single replica, dev). */
  leaderElection?: Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading' | 'logger'> | false;
  /** How long shutdown waits for in-flight reconciles (default 30 s). */
  shutdownTimeoutMs?: number;
  /** start() fails when caches are not synced by then (default 2 min). */
  cacheSyncTimeoutMs?: number;
  /** Install SIGTERM/SIGINT handlers that shut down and exit (default true). */
  handleSignals?: boolean;
  /** How the process ends (default process.exit); tests pass a recorder. */
  exit?: (code: number) => void;
}

/**
 * Work that is not a controller but must run only where controllers run (the leader, caches
 * synced) and stop with them: controller-runtime's leader-election Runnable.
 */
export interface Runnable {
  name: string;
  start(): void;
  shutdown(timeoutMs: number): Promise<boolean>;
}

export class Manager {
  readonly metrics: OperatorMetrics;
  readonly #opts: ManagerOptions;
  readonly #log: Logger;
  readonly #controllers: Controller[] = [];
  readonly #runnables: Runnable[] = [];
  readonly #informers = new Set<Informer>();
  #elector: LeaderElector | undefined;
  #server: HealthServer | undefined;
  #synced = false;
  #shuttingDown: Promise<void> | undefined;
  #controllersStarted = false;
  #fatal = false;
  #signalHandler: ((signal: NodeJS.Signals) => void) | undefined;

  constructor(opts: ManagerOptions) {
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'manager' });
    this.metrics = opts.metrics ?? createMetrics();
    this.metrics.trackLeader(() => this.isLeader());
  }

  add(controller: Controller): this {
    this.#controllers.push(controller);
    for (const inf of controller.informers()) this.#informers.add(inf);
    return this;
  }

  addRunnable(runnable: Runnable): this {
    this.#runnables.push(runnable);
    return this;
  }

  /** An informer no controller owns (e.g. a cache the gateway reads); started and synced with the rest. */
  addInformer(informer: Informer): this {
    this.#informers.add(informer);
    return this;
  }

  /** URL of the health/metrics server once started. */
  get healthUrl(): string | undefined {
    return this.#server?.url;
  }

  isReady(): boolean {
    return this.#synced && !this.#shuttingDown;
  }

  isLeader(): boolean {
    return this.#opts.leaderElection === false || this.#opts.leaderElection === undefined
      ? this.#controllersStarted
      : (this.#elector?.isLeader() ?? false);
  }

  /**
   * Resolves once caches are synced and leader election (or the controllers) started.
   * Rejects when the caches do not sync within cacheSyncTimeoutMs (RBAC missing, CRDs not
   * installed): the caller should shutdown() and exit non-zero, so the pod restarts and its
   * failure is visible, as with controller-runtime.
   */
  async start(): Promise<void> {
    if (this.#opts.handleSignals !== false) this.#installSignalHandlers();
    if (this.#opts.health !== false) {
      this.#server = await startHealthServer({
        host: this.#opts.health?.host,
        port: this.#opts.health?.port,
        registry: this.metrics.registry,
        healthz: () => !this.#fatal,
        readyz: () => {
          const checks: Record<string, boolean> = { informers: this.#synced, 'shutdown-not-started': !this.#shuttingDown };
          for (const i of this.#informers) {
            const name = `informer-${i.type.plural}`;
            checks[name] = (checks[name] ?? true) && i.hasSynced();
          }
          return { ok: this.isReady(), checks };
        },
      });
      this.#log.info({ url: this.#server.url }, 'health and metrics server listening');
    }

    for (const inf of this.#informers) inf.start();
    const timeout = this.#opts.cacheSyncTimeoutMs ?? 120_000;
    await Promise.all([...this.#informers].map((inf) => inf.waitForSync(timeout)));
    if (this.#shuttingDown) return;
    this.#synced = true;
    this.#log.info({ informers: this.#informers.size }, 'caches synced');

    const le = this.#opts.leaderElection;
    if (le === false || le === undefined) {
      this.#startControllers();
      return;
    }
    this.#elector = new LeaderElector(this.#opts.clients, {
      ...le,
      logger: this.#opts.logger,
      onStartedLeading: () => this.#startControllers(),
      onStoppedLeading: () => this.#onLostLeadership(),
    });
    this.#elector.start();
  }

  /** Graceful shutdown (idempotent): drain, release the lease, stop informers, close the server. */
  shutdown(): Promise<void> {
    this.#shuttingDown ??= this.#doShutdown();
    return this.#shuttingDown;
  }

  async #doShutdown(): Promise<void> {
    const started = Date.now();
    this.#log.info('shutting down');
    const timeout = this.#opts.shutdownTimeoutMs ?? 30_000;
    // Controllers first: runnables may serve them to the end (the event recorder flushes what
    // the last reconciles recorded).
    const drained = await Promise.all(this.#controllers.map((c) => c.shutdown(timeout)));
    drained.push(...(await Promise.all(this.#runnables.map((r) => r.shutdown(timeout)))));
    // Release only after our reconciles ended, so the next leader never overlaps with them.
    await this.#elector?.stop({ release: true });
    await Promise.all([...this.#informers].map((i) => i.stop()));
    await this.#server?.close();
    this.#removeSignalHandlers();
    this.#log.info({ ms: Date.now() - started, drained: drained.every(Boolean) }, 'shutdown complete');
  }

  #startControllers(): void {
    if (this.#controllersStarted || this.#shuttingDown) return;
    this.#controllersStarted = true;
    for (const c of this.#controllers) c.start();
    for (const r of this.#runnables) r.start();
    this.#log.info({ controllers: this.#controllers.map((c) => c.kind), runnables: this.#runnables.map((r) => r.name) }, 'controllers started');
  }

  #onLostLeadership(): void {
    this.#fatal = true;
    this.#log.error('leader election lost, exiting so this replica restarts as a standby');
    // No drain and no release: the lease is someone else's, and so may be the work.
    for (const c of [...this.#controllers, ...this.#runnables]) void c.shutdown(0);
    this.#exit(1);
  }

  #exit(code: number): void {
    (this.#opts.exit ?? ((c: number) => process.exit(c)))(code);
  }

  #installSignalHandlers(): void {
    this.#signalHandler = (signal) => {
      this.#log.info({ signal }, 'signal received');
      this.shutdown().then(
        () => this.#exit(0),
        (err: unknown) => {
          this.#log.error({ err }, 'shutdown failed');
          this.#exit(1);
        },
      );
    };
    process.once('SIGTERM', this.#signalHandler);
    process.once('SIGINT', this.#signalHandler);
  }

  #removeSignalHandlers(): void {
    if (!this.#signalHandler) return;
    process.off('SIGTERM', this.#signalHandler);
    process.off('SIGINT', this.#signalHandler);
    this.#signalHandler = undefined;
  }
}
