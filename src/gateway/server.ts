// The governed model gateway and tool decision endpoint (node:http), served by the controller.
//
//   GET  /v1/models                 the binding's model (answered here, no upstream call)
//   POST /v1/chat/completions       forwarded to the binding's provider (streaming or not)
//   POST /v1/completions            forwarded
//   POST /v1/embeddings             forwarded
//   POST /v1/messages               forwarded, Anthropic bindings only
//   POST /v1/tools/authorize        {tool, action} → allow/deny from Active ToolGrantRecords
//   *    /v1/tools/<tool>/<rest>    forwarded to the tool's connector with its credential
//                                   injected (http: methods and paths; mcp: JSON-RPC judged)
//   GET  /healthz                   liveness, no token
//   GET  http://host/...            egress proxy: forwarded if the execution's network allows it
//   CONNECT host:port               egress proxy: a tunnel if the execution's network allows it
//
// Every call presents the execution's token (Authorization: Bearer, or x-api-key). The token
// resolves to the execution, the execution to its binding and profile, all from informer
// caches; the gates (gates.ts) and the budget (ledger.ts) are checked on each call, the
// provider credential is added here (the agent never has it), usage is read from the provider's
// answer (streams included: the gateway asks for include_usage and strips the usage-only chunk
// when the client did not ask for it) and counted into status.budget.used in batches.
//
// Never logged, never in an error body: prompt or completion text, the token, the credential.
// Upstream error bodies are passed on with every known credential value scrubbed; an upstream
// 401/403 (the credential itself was refused) becomes a 502 that says only that.
//
// This file is the router: path and method → authenticate (authenticate.ts) → the route's
// steps (model-call.ts: plan, upstream, relay; tool-authorization.ts; connector-call.ts;
// egress-proxy.ts for absolute-form and CONNECT requests, authenticated by Proxy-Authorization).
// README.md says how a new route plugs in.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import type { CelSandbox } from '../governance/cel-sandbox.ts';
import type { Logger } from '../observability/logger.ts';
import type { FullBudget } from '../governance/budget.ts';
import type { AuditLog } from '../governance/audit-log.ts';
import { GatewayAnswers, type Route } from './answers.ts';
import { auditRefusal, authenticate, reauthorize, type CallAuthority } from './authenticate.ts';
import type { CredentialCache } from './credentials.ts';
import { GatewayDecisionAudit } from './decision-audit.ts';
import { EgressRecorder } from './egress-audit.ts';
import { EgressProxy, type Resolve } from './egress-proxy.ts';
import { parseAbsoluteUrl } from './egress-plan.ts';
import { GATEWAY_HOST_ALIAS, PODMAN_HOST_ALIAS } from './injection.ts';
import { checkModelUse } from './gates.ts';
import type { UsageLedger } from './ledger.ts';
import { forwardModelCall, type ModelCallDeps } from './model-call.ts';
import type { PromptMemory } from './prompt-memory.ts';
import { checkServedPath } from './model-call-plan.ts';
import { PolicyCache } from './policy-cache.ts';
import type { TokenStore } from './tokens.ts';
import { authorizeTool, type ToolAuthorizationDeps } from './tool-authorization.ts';
import { connectorRoute, forwardConnectorCall, type ConnectorCallDeps } from './connector-call.ts';
import { CONNECTOR_PREFIX, EndpointCache } from './connector-plan.ts';
import { OpenStreams } from './connector-streams.ts';
import { UpstreamClient } from './upstream.ts';
import { GlobCache } from './path-glob.ts';
import { BY_TOOL, indexed } from '../reconcilers/indexes.ts';

export interface GatewayInformers {
  executions: Informer<LocalAgentExecution>;
  bindings: Informer<ModelProviderBinding>;
  profiles: Informer<AgentMachineProfile>;
  grants: Informer<ToolGrantRecord>;
}

export interface GatewayServerOptions {
  tokens: TokenStore;
  informers: GatewayInformers;
  credentials: CredentialCache;
  ledger: UsageLedger;
  /** The per-call RBAC re-check and the audit of lost authority. */
  authority: CallAuthority;
  logger: Logger;
  /** Where the gateway's counters go (the controller's /metrics registry). */
  registry?: Registry;
  clock?: () => Date;
  /** Where profile CEL rules run (the controller's, shared with the reconcilers). */
  celSandbox: CelSandbox;
  /** Largest request body accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Idle timeout of an upstream call (default 10 min: long generations stream slowly). */
  upstreamTimeoutMs?: number;
  /** Forwarded prompt texts are remembered here, for the redactor. */
  prompts?: PromptMemory;
  /** Where the batched records of every gateway decision go (the controller's hash-chained audit trail). */
  audit?: Pick<AuditLog, 'append'>;
  /** How often gateway decision records are written (default 5 s; and at close). */
  egressAuditIntervalMs?: number;
  /** Name resolution of the egress proxy (default: the system resolver, every address). */
  resolve?: Resolve;
  /** An egress tunnel idle this long is closed (default 5 min). */
  egressIdleTimeoutMs?: number;
  /** Certificate authorities for the TLS the egress proxy originates (`GET https://…`); default Node's. */
  egressOriginCa?: string[];
  /** Time a client has to send its request headers (default 30 s). */
  headersTimeoutMs?: number;
  /**
   * host:port names of this gateway as containers see it besides agent-machine-gateway and
   * host.containers.internal on the listening port (e.g. the advertised URL's): a proxy request
   * to one of them is served here, not forwarded (clients such as busybox wget ignore NO_PROXY).
   */
  selfAuthorities?: string[];
}

const ROUTES: Record<string, { route: Route; method: 'GET' | 'POST' }> = {
  '/v1/models': { route: 'models', method: 'GET' },
  '/v1/chat/completions': { route: 'forward', method: 'POST' },
  '/v1/completions': { route: 'forward', method: 'POST' },
  '/v1/embeddings': { route: 'forward', method: 'POST' },
  '/v1/messages': { route: 'forward', method: 'POST' },
  '/v1/tools/authorize': { route: 'tools', method: 'POST' },
};

export class GatewayServer {
  readonly #o: GatewayServerOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #server: http.Server;
  readonly #answers: GatewayAnswers;
  readonly #policies: PolicyCache;
  readonly #upstream: UpstreamClient;
  readonly #modelCalls: ModelCallDeps;
  readonly #tools: ToolAuthorizationDeps;
  readonly #connectors: ConnectorCallDeps;
  readonly #streams: OpenStreams;
  readonly #decisions: GatewayDecisionAudit | undefined;
  readonly #egress: EgressProxy;
  #active = false;
  /** host:port forms that name this gateway (see selfAuthorities). */
  readonly #self = new Set<string>();
  #inactiveReason = 'the gateway is starting';

  constructor(opts: GatewayServerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'gateway' });
    this.#clock = opts.clock ?? (() => new Date());
    this.#decisions = opts.audit ? new GatewayDecisionAudit({ audit: opts.audit, logger: this.#log, ...(opts.egressAuditIntervalMs ? { flushIntervalMs: opts.egressAuditIntervalMs } : {}) }) : undefined;
    this.#answers = new GatewayAnswers(opts.registry, this.#decisions);
    this.#policies = new PolicyCache(opts.celSandbox);
    this.#upstream = new UpstreamClient({ idleTimeoutMs: opts.upstreamTimeoutMs ?? 600_000 });
    this.#modelCalls = { ledger: opts.ledger, credentials: opts.credentials, upstream: this.#upstream, answers: this.#answers, log: this.#log, maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024, ...(opts.prompts ? { prompts: opts.prompts } : {}) };
    const grantsOfTool = indexed(opts.informers.grants, BY_TOOL);
    const grantsOf = (namespace: string, tool: string): ToolGrantRecord[] => grantsOfTool(`${namespace}/${tool}`);
    this.#tools = { profiles: opts.informers.profiles, grantsOf, ledger: opts.ledger, policies: this.#policies, answers: this.#answers, authority: opts.authority };
    this.#streams = new OpenStreams(opts.informers.grants, opts.informers.executions, this.#clock);
    this.#connectors = { ...this.#tools, compileGlob: new GlobCache().compile, parseEndpoint: new EndpointCache().parse, credentials: opts.credentials, upstream: this.#upstream, streams: this.#streams, log: this.#log, maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024 };
    const egressRecorder = new EgressRecorder({ ...(opts.registry ? { registry: opts.registry } : {}), ...(this.#decisions ? { audit: this.#decisions } : {}) });
    this.#egress = new EgressProxy({ tokens: opts.tokens, executions: opts.informers.executions, profiles: opts.informers.profiles, recorder: egressRecorder, authority: opts.authority, log: this.#log, clock: this.#clock, ...(opts.resolve ? { resolve: opts.resolve } : {}), ...(opts.egressIdleTimeoutMs ? { idleTimeoutMs: opts.egressIdleTimeoutMs } : {}), ...(opts.egressOriginCa ? { originCa: opts.egressOriginCa } : {}) });
    const headersTimeout = opts.headersTimeoutMs ?? 30_000;
    this.#server = http.createServer(
      // The server checks headersTimeout every connectionsCheckingInterval: keep that below it.
      { keepAliveTimeout: 65_000, headersTimeout, requestTimeout: 0, noDelay: true, connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(headersTimeout / 2))) },
      (req, res) => this.#handle(req, res),
    );
    // A client may end its side once its request is sent and wait for the answer (a half-close:
    // `nc`, scripts piping a request, some proxies). Node's default takes that FIN for a client
    // gone and drops the request in flight; with this the answer goes out, then the connection ends.
    // (httpAllowHalfOpen is Node's own switch for this, set by its constructor; @types/node does not list it.)
    (this.#server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.#server.on('connect', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.#egress.connect(req, socket, head, this.#active ? undefined : this.#inactiveReason).catch((err: unknown) => {
        this.#log.error({ route: 'egress', error: err instanceof Error ? err.message : String(err) }, 'egress tunnel failed');
        socket.destroy();
      });
    });
  }

  /** Starts listening; resolves with the bound address. */
  listen(host: string, port: number): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const a = this.#server.address() as AddressInfo;
        for (const h of [GATEWAY_HOST_ALIAS, PODMAN_HOST_ALIAS]) this.#self.add(`${h}:${a.port}`);
        for (const h of this.#o.selfAuthorities ?? []) this.#self.add(h.toLowerCase());
        const shown = a.address.includes(':') ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${shown}:${a.port}` });
      });
    });
  }

  /** Answer calls (leader) or refuse them with 503 (standby, shutting down). */
  setActive(active: boolean, reason = 'this controller replica is not the leader'): void {
    this.#active = active;
    this.#inactiveReason = reason;
  }

  async close(): Promise<void> {
    this.setActive(false, 'the gateway is shutting down');
    this.#streams.stop();
    this.#egress.closeAll();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      setTimeout(() => this.#server.closeAllConnections(), 2_000).unref();
    });
    await this.#upstream.close();
    await this.#decisions?.close();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url = req.url ?? '/';
    let method = req.method;
    // Absolute-form: a proxy request (origin-form paths start with '/'), served here when it
    // names this gateway, else the egress proxy's.
    if (!url.startsWith('/') && /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url)) {
      const local = this.#selfPath(url);
      if (local === undefined) {
        this.#egress.forward(req, res, this.#active ? undefined : this.#inactiveReason).catch((err: unknown) => this.#internalError(res, 'egress', err));
        return;
      }
      url = local;
      // busybox wget (1.35) sends every proxied request as GET, a --post-data body included:
      // such a GET with a body, to this gateway, is the POST it meant.
      if (method === 'GET' && (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined)) method = 'POST';
    }
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const answers = this.#answers;
    if (path.startsWith(CONNECTOR_PREFIX) && !ROUTES[path]) return this.#connector(req, res, path, q >= 0 ? url.slice(q) : '');
    const entry = ROUTES[path];
    if (!entry) return answers.refuse(res, 'unknown', { status: 404, type: 'invalid_request_error', code: 'unknown_url', message: `no route ${path}` });
    const { route } = entry;
    if (method !== entry.method) return answers.refuse(res, route, { status: 405, type: 'invalid_request_error', code: 'method_not_allowed', message: `${path} takes ${entry.method}` });
    if (!this.#active) return answers.refuse(res, route, { status: 503, type: 'service_unavailable', code: 'gateway_inactive', message: this.#inactiveReason });

    const now = this.#clock();
    const { informers } = this.#o;
    const checked = authenticate(req.headers, this.#o.tokens, informers.executions, now);
    if (checked.execution) answers.attribute(res, checked.execution, route === 'tools' ? 'tool' : 'model', route === 'tools' ? '(unread)' : (checked.execution.spec.modelProviderRef?.name ?? '(none)'));
    if (!checked.ok) {
      if (checked.execution) void auditRefusal(this.#o.authority, checked.execution, checked.refusal).catch((err: unknown) => this.#auditFailed(err));
      return answers.refuse(res, route, checked.refusal, route === 'tools');
    }
    const ex = checked.execution;

    if (route === 'tools') {
      authorizeTool(this.#tools, req, res, ex, checked.effective, now).catch((err: unknown) => this.#internalError(res, 'tools', err));
      return;
    }
    const ref = ex.spec.modelProviderRef;
    const binding = ref ? informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined;
    const bindingProfileType = binding ? informers.profiles.get(binding.spec.profileRef.name)?.spec.profileType : undefined;
    const bc = checkModelUse(ex, binding, informers.profiles.get(ex.spec.profileRef.name), (p, b) => this.#policies.modelUse(p, b, ex.spec.tenant, ex.spec.authority.delegator), bindingProfileType);
    if (!bc.ok) {
      void auditRefusal(this.#o.authority, ex, bc.refusal).catch((err: unknown) => this.#auditFailed(err));
      return answers.refuse(res, route, bc.refusal);
    }
    this.#modelRoute(req, res, route, path, ex, checked.effective, bc.binding, now).catch((err: unknown) => this.#internalError(res, route, err));
  }

  #connector(req: http.IncomingMessage, res: http.ServerResponse, path: string, query: string): void {
    const answers = this.#answers;
    if (!this.#active) return answers.refuse(res, 'connector', { status: 503, type: 'service_unavailable', code: 'gateway_inactive', message: this.#inactiveReason });
    const now = this.#clock();
    const checked = authenticate(req.headers, this.#o.tokens, this.#o.informers.executions, now);
    if (checked.execution) answers.attribute(res, checked.execution, 'connector', '(unknown)');
    if (!checked.ok) {
      if (checked.execution) void auditRefusal(this.#o.authority, checked.execution, checked.refusal).catch((err: unknown) => this.#auditFailed(err));
      return answers.refuse(res, 'connector', checked.refusal);
    }
    const route = connectorRoute(this.#connectors, path, checked.execution);
    if (route) answers.retarget(res, route.tool);
    if (!route) return answers.refuse(res, 'connector', { status: 404, type: 'invalid_request_error', code: 'unknown_tool', message: 'no tool of this execution with a connector matches the path /v1/tools/<tool>/...' });
    forwardConnectorCall(this.#connectors, req, res, route, query, checked.execution, checked.effective, now).catch((err: unknown) => this.#internalError(res, 'connector', err));
  }

  /** The path of an absolute-form URL that names this gateway, else undefined. */
  #selfPath(url: string): string | undefined {
    const parsed = parseAbsoluteUrl(url);
    if (!parsed || parsed.scheme !== 'http' || !this.#self.has(`${parsed.target.host}:${parsed.target.port}`)) return undefined;
    const start = url.indexOf('/', url.indexOf('//') + 2);
    return start < 0 ? '/' : url.slice(start);
  }

  async #modelRoute(req: http.IncomingMessage, res: http.ServerResponse, route: Route, path: string, ex: LocalAgentExecution, effective: FullBudget, binding: ModelProviderBinding, now: Date): Promise<void> {
    const answers = this.#answers;
    const lost = await reauthorize(this.#o.authority, ex, now, { binding: binding.metadata.name! });
    if (lost) {
      await auditRefusal(this.#o.authority, ex, lost);
      return answers.refuse(res, route, lost);
    }
    const bc = { binding };
    if (route === 'models') {
      const b = bc.binding;
      return answers.json(res, 'models', 200, { object: 'list', data: [{ id: b.spec.model, object: 'model', created: 0, owned_by: `agent-machine:${b.spec.provider}` }] });
    }
    const unserved = checkServedPath(bc.binding, path);
    if (unserved) return answers.refuse(res, 'forward', unserved);
    await forwardModelCall(this.#modelCalls, req, res, path, ex, effective, bc.binding);
  }

  #auditFailed(err: unknown): void {
    this.#log.error({ error: err instanceof Error ? err.message : String(err) }, 'could not audit a refused gateway call');
  }

  #internalError(res: http.ServerResponse, route: Route, err: unknown): void {
    this.#log.error({ route, error: err instanceof Error ? err.message : String(err) }, 'gateway request failed');
    this.#answers.refuse(res, route, { status: 500, type: 'api_error', code: 'internal_error', message: 'the gateway failed to handle the request' });
  }
}
