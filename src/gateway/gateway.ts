// The gateway inside the controller process: one call wires the token store, the usage ledger,
// the credential cache, the HTTP server and the env its executions' containers get. The
// controller that keeps tokens in step with executions and switches the server on when this
// replica leads is src/reconcilers/gateway-token-reconciler.ts.
//
// Only the leader answers calls: the ledger is the single writer of the gateway's counts, so
// a standby replica's gateway says 503 until it leads (a Service in front of several replicas
// should route on the leader; see the report of the gateway issue).
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { Informer } from '../operator/informer.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import type { Logger } from '../observability/logger.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import type { CelSandbox } from '../governance/cel-sandbox.ts';
import type { AuditLog } from '../governance/audit-log.ts';
import type { Resolve } from './egress-proxy.ts';
import type { CallAuthority } from './authenticate.ts';
import { CredentialCache } from './credentials.ts';
import { ExecutionGatewayEnv } from './injection.ts';
import { UsageLedger } from './ledger.ts';
import type { PromptMemory } from './prompt-memory.ts';
import { GatewayServer, type GatewayInformers } from './server.ts';
import { SECRETS, TOKEN_SELECTOR, TokenStore } from './tokens.ts';

export interface GatewayOptions {
  clients: KubeClients;
  informers: GatewayInformers;
  /** The controller's authorizer (its access reviewer's cache) and command recorder. */
  authority: CallAuthority;
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
  /** Where profile CEL rules run (the controller's, shared with the reconcilers). */
  celSandbox: CelSandbox;
  /** Forwarded prompt texts, shared with the reconcilers that redact what they write. */
  prompts?: PromptMemory;
  /** The controller's audit log: the egress proxy's batched records go there. */
  audit?: Pick<AuditLog, 'append'>;
  /** Name resolution of the egress proxy (default: the system resolver). */
  resolve?: Resolve;
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
  /** The gateway URL and token for an execution's containers (ReconcilerDeps.gatewayEnv). */
  env: ExecutionGatewayEnv;
}

/** Starts listening at once (so the port is known before containers are built); answers 503 until the GatewayToken controller starts. */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const log = opts.logger.child({ component: 'gateway' });
  const secrets = new Informer<V1Secret>(opts.clients, SECRETS, { namespace: opts.namespace, labelSelector: TOKEN_SELECTOR, resyncPeriodMs: opts.resyncPeriodMs, logger: opts.logger });
  const tokens = new TokenStore(opts.clients, secrets);
  const ledger = new UsageLedger({ clients: opts.clients, logger: opts.logger, flushIntervalMs: opts.flushIntervalMs });
  const credentials = opts.credentials ?? new CredentialCache(opts.clients);
  const server = new GatewayServer({ tokens, informers: opts.informers, credentials, ledger, celSandbox: opts.celSandbox, authority: opts.authority, logger: opts.logger, ...(opts.prompts ? { prompts: opts.prompts } : {}), ...(opts.audit ? { audit: opts.audit } : {}), ...(opts.advertiseUrl ? { selfAuthorities: [advertisedAuthority(opts.advertiseUrl)] } : {}), ...(opts.resolve ? { resolve: opts.resolve } : {}), ...(opts.metrics ? { registry: opts.metrics.registry as Registry } : {}), ...(opts.clock ? { clock: opts.clock } : {}) });
  const bound = await server.listen(opts.host, opts.port);

  const { executions, bindings } = opts.informers;
  executions.on({ add: (e) => ledger.observe(e), update: (e) => ledger.observe(e), delete: (e) => ledger.forget(e.metadata.uid!) });

  const addressing = { port: bound.port, ...(opts.advertiseUrl ? { advertiseUrl: opts.advertiseUrl } : {}), ...(opts.gatewayNetwork ? { gatewayNetwork: opts.gatewayNetwork } : {}) };
  const env = new ExecutionGatewayEnv({ executions, bindings, tokens, addressing });
  log.info({ url: bound.url, advertiseUrl: opts.advertiseUrl, gatewayNetwork: opts.gatewayNetwork }, 'model gateway listening');
  return { url: bound.url, port: bound.port, server, tokens, ledger, credentials, secrets, env };
}

/** host:port of an advertised URL (default port of its scheme when it names none). */
function advertisedAuthority(url: string): string {
  const u = new URL(url);
  return `${u.hostname.replace(/^\[(.*)\]$/, "$1")}:${u.port || (u.protocol === "https:" ? 443 : 80)}`;
}
