// The gateway inside the controller process: one call wires the token store, the usage ledger,
// the credential cache, the HTTP server and a controller that keeps tokens in step with
// executions (mint while one runs, delete its Secret once it finished or went away).
//
// Only the leader answers calls: the ledger is the single writer of the gateway's counts, so
// a standby replica's gateway says 503 until it leads (a Service in front of several replicas
// should route on the leader; see the report of the gateway issue).
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { ContainerExecutionRecord, LocalAgentExecution } from '../api/types.generated.ts';
import { Controller } from '../operator/controller.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { Informer } from '../operator/informer.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import type { Logger } from '../observability/logger.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';
import { CredentialCache } from './credentials.ts';
import { gatewayEnvVars, gatewayRootUrl, setGatewayEnvSource, type ContainerPlacement } from './injection.ts';
import { UsageLedger } from './ledger.ts';
import { GatewayServer, type GatewayInformers } from './server.ts';
import { needsToken, SECRETS, TOKEN_EXECUTION_LABEL, TOKEN_SELECTOR, tokenAction, TokenStore } from './tokens.ts';

export interface GatewayOptions {
  clients: KubeClients;
  informers: GatewayInformers;
  logger: Logger;
  metrics?: OperatorMetrics;
  /** Listen address. */
  host: string;
  port: number;
  /** Watch only this namespace (as the controller does). */
  namespace?: string;
  resyncPeriodMs?: number;
  /** See injection.ts. */
  advertiseUrl?: string;
  gatewayNetwork?: string;
  /** Batch window of usage writes (default 1 s). */
  flushIntervalMs?: number;
  /** A credential cache shared with the binding reconciler (one is made otherwise). */
  credentials?: CredentialCache;
  clock?: () => Date;
}

export interface RunningGateway {
  /** http://host:port the server is bound to. */
  url: string;
  port: number;
  server: GatewayServer;
  tokens: TokenStore;
  ledger: UsageLedger;
  credentials: CredentialCache;
  /** Token Secrets informer: add it to the manager so it starts and syncs with the rest. */
  secrets: Informer<V1Secret>;
  /** Add to the manager: mints and revokes tokens, and turns the server on when leading. */
  controller: Controller;
}

/** Starts listening at once (so the port is known before containers are built); answers 503 until the controller starts. */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const log = opts.logger.child({ component: 'gateway' });
  const secrets = new Informer<V1Secret>(opts.clients, SECRETS, { namespace: opts.namespace, labelSelector: TOKEN_SELECTOR, resyncPeriodMs: opts.resyncPeriodMs, logger: opts.logger });
  const tokens = new TokenStore(opts.clients, secrets);
  const ledger = new UsageLedger({ clients: opts.clients, logger: opts.logger, flushIntervalMs: opts.flushIntervalMs });
  const credentials = opts.credentials ?? new CredentialCache(opts.clients);
  const server = new GatewayServer({ tokens, informers: opts.informers, credentials, ledger, logger: opts.logger, ...(opts.metrics ? { registry: opts.metrics.registry as Registry } : {}), ...(opts.clock ? { clock: opts.clock } : {}) });
  const bound = await server.listen(opts.host, opts.port);

  const { executions, bindings } = opts.informers;
  executions.on({ add: (e) => ledger.observe(e), update: (e) => ledger.observe(e), delete: (e) => ledger.forget(e.metadata.uid!) });

  const controller = new GatewayController({
    kind: 'GatewayToken',
    informer: executions,
    logger: opts.logger,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    concurrency: 2,
    // A token Secret whose execution is gone (deleted while this controller was down) is revoked.
    watches: [{ informer: secrets, map: (s) => [`${s.metadata?.namespace}/${(s as V1Secret).metadata?.labels?.[TOKEN_EXECUTION_LABEL] ?? ''}`] }],
    reconcile: async (key) => {
      const ex = executions.get(key);
      const [namespace = '', name = ''] = key.split('/');
      if (!ex) return tokens.revoke(namespace, name);
      const action = tokenAction(ex);
      if (action === 'revoke') return tokens.revoke(namespace, name, ex.metadata.uid);
      if (action === 'ensure') await tokens.ensure(ex);
    },
  });
  controller.server = server;
  controller.ledger = ledger;

  const addressing = { port: bound.port, ...(opts.advertiseUrl ? { advertiseUrl: opts.advertiseUrl } : {}), ...(opts.gatewayNetwork ? { gatewayNetwork: opts.gatewayNetwork } : {}) };
  setGatewayEnvSource({
    async envFor(record: ContainerExecutionRecord, placement: ContainerPlacement) {
      const ref = record.spec.executionRef;
      if (!ref) return {};
      const ex = executions.get(`${record.metadata.namespace}/${ref.name}`);
      // Only the execution that owns the record: a record naming someone else's execution gets nothing.
      if (!ex || !needsToken(ex) || !record.metadata.ownerReferences?.some((o) => o.uid === ex.metadata.uid)) return {};
      if (isTerminalExecutionPhase(ex.status?.phase) || isBeingDeleted(ex)) return {};
      const token = await tokens.ensure(ex);
      const binding = ex.spec.modelProviderRef ? bindings.get(`${ex.metadata.namespace}/${ex.spec.modelProviderRef.name}`) : undefined;
      return gatewayEnvVars(gatewayRootUrl(addressing, placement), token, { model: ex.spec.modelProviderRef !== undefined, anthropic: binding?.spec.provider === 'anthropic' });
    },
  });
  log.info({ url: bound.url, advertiseUrl: opts.advertiseUrl, gatewayNetwork: opts.gatewayNetwork }, 'model gateway listening');
  return { url: bound.url, port: bound.port, server, tokens, ledger, credentials, secrets, controller };
}

/** The token controller, which also switches the server on when it starts (leader) and drains it on shutdown. */
class GatewayController extends Controller {
  server: GatewayServer | undefined;
  ledger: UsageLedger | undefined;

  override start(): void {
    super.start();
    this.server?.setActive(true);
  }

  override async shutdown(timeoutMs?: number): Promise<boolean> {
    this.server?.setActive(false, 'the gateway is shutting down');
    const drained = await super.shutdown(timeoutMs);
    await this.ledger?.flush().catch(() => undefined);
    this.ledger?.stop();
    setGatewayEnvSource(undefined);
    await this.server?.close();
    return drained;
  }
}
