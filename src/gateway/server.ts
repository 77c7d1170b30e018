// The governed model gateway and tool decision endpoint (node:http), served by the controller.
//
//   GET  /v1/models                 the binding's model (answered here, no upstream call)
//   POST /v1/chat/completions       forwarded to the binding's provider (streaming or not)
//   POST /v1/completions            forwarded
//   POST /v1/embeddings             forwarded
//   POST /v1/messages               forwarded, Anthropic bindings only
//   POST /v1/tools/authorize        {tool, action} → allow/deny from Active ToolGrantRecords
//   GET  /healthz                   liveness, no token
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
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import { evaluatePolicy, type PolicyResult } from '../governance/policy.ts';
import { tokenAllowance } from './token-allowance.ts';
import { modelProviderUseRequest, toolGrantRequest } from '../governance/requests.ts';
import type { Informer } from '../operator/informer.ts';
import type { Logger } from '../observability/logger.ts';
import type { CredentialCache } from './credentials.ts';
import { checkExecution, checkModelUse, checkToolUse, type Refusal } from './gates.ts';
import type { UsageLedger } from './ledger.ts';
import { credentialHeaders, servesPath, upstreamOf, upstreamPath, type Upstream } from './provider.ts';
import type { TokenStore } from './tokens.ts';
import { SseUsageFilter, usageFromJson } from './usage.ts';

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
  logger: Logger;
  /** Where the gateway's counters go (the controller's /metrics registry). */
  registry?: Registry;
  clock?: () => Date;
  /** Largest request body accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Idle timeout of an upstream call (default 10 min: long generations stream slowly). */
  upstreamTimeoutMs?: number;
}

type Route = 'models' | 'forward' | 'tools';

const ROUTES: Record<string, { route: Route; method: 'GET' | 'POST' }> = {
  '/v1/models': { route: 'models', method: 'GET' },
  '/v1/chat/completions': { route: 'forward', method: 'POST' },
  '/v1/completions': { route: 'forward', method: 'POST' },
  '/v1/embeddings': { route: 'forward', method: 'POST' },
  '/v1/messages': { route: 'forward', method: 'POST' },
  '/v1/tools/authorize': { route: 'tools', method: 'POST' },
};

/** Response headers of the provider that are not passed on. */
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie', 'openai-organization', 'openai-project', 'content-length', 'content-encoding']);
/** Request headers of the agent that are passed on (everything else, credentials included, is not). */
const FORWARDED_REQUEST_HEADERS = ['accept', 'openai-beta', 'anthropic-version', 'anthropic-beta', 'user-agent', 'x-request-id'];
const POLICY_TTL_MS = 5_000;
/** JSON answers up to this size are sent in one write once complete. */
const SMALL_BODY_BYTES = 256 * 1024;

export class GatewayServer {
  readonly #o: GatewayServerOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #server: http.Server;
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 128, scheduling: 'lifo' });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 128, scheduling: 'lifo' });
  readonly #upstreams = new Map<string, Upstream>();
  readonly #policyCache = new Map<string, { result: PolicyResult; at: number }>();
  readonly #requests: Counter<'route' | 'code'>;
  readonly #tokensCounted: Counter;
  readonly #budgetExhausted: Counter<'dimension' | 'route'>;
  #active = false;
  #inactiveReason = 'the gateway is starting';

  constructor(opts: GatewayServerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'gateway' });
    this.#clock = opts.clock ?? (() => new Date());
    const registers = opts.registry ? [opts.registry] : [];
    this.#requests = new Counter({ name: 'agent_machine_gateway_requests_total', help: 'Gateway requests by route and HTTP status.', labelNames: ['route', 'code'] as const, registers });
    this.#tokensCounted = new Counter({ name: 'agent_machine_gateway_tokens_total', help: 'Tokens the providers reported for calls through the gateway.', registers });
    this.#budgetExhausted = new Counter({ name: 'agent_machine_gateway_budget_exhausted_total', help: 'Calls refused with 429 because an execution budget dimension was used up, by dimension and route.', labelNames: ['dimension', 'route'] as const, registers });
    this.#server = http.createServer({ keepAliveTimeout: 65_000, headersTimeout: 30_000, requestTimeout: 0, noDelay: true }, (req, res) => this.#handle(req, res));
  }

  /** Starts listening; resolves with the bound address. */
  listen(host: string, port: number): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const a = this.#server.address() as AddressInfo;
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
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      setTimeout(() => this.#server.closeAllConnections(), 2_000).unref();
    });
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const entry = ROUTES[path];
    if (!entry) return this.#refuse(res, 'unknown', { status: 404, type: 'invalid_request_error', code: 'unknown_url', message: `no route ${path}` });
    if (req.method !== entry.method) return this.#refuse(res, entry.route, { status: 405, type: 'invalid_request_error', code: 'method_not_allowed', message: `${path} takes ${entry.method}` });
    if (!this.#active) return this.#refuse(res, entry.route, { status: 503, type: 'service_unavailable', code: 'gateway_inactive', message: this.#inactiveReason });

    const now = this.#clock();
    const token = presentedToken(req);
    const identity = token === undefined ? undefined : this.#o.tokens.resolve(token);
    const ex = identity ? this.#o.informers.executions.get(`${identity.namespace}/${identity.execution}`) : undefined;
    const checked = checkExecution(identity, ex, now, identity === undefined && token !== undefined ? this.#o.tokens.revokedIdentity(token) : undefined);
    if (!checked.ok) return this.#refuse(res, entry.route, checked.refusal, entry.route === 'tools');

    if (entry.route === 'tools') {
      this.#authorizeTool(req, res, checked.execution, checked.effective, now).catch((err: unknown) => this.#internalError(res, 'tools', err));
      return;
    }
    const bc = checkModelUse(checked.execution, this.#binding(checked.execution), this.#o.informers.profiles.get(checked.execution.spec.profileRef.name), (p, b) => this.#modelPolicy(p, b, checked.execution.spec.tenant));
    if (!bc.ok) return this.#refuse(res, entry.route, bc.refusal);
    if (entry.route === 'models') {
      const b = bc.binding;
      this.#count('models', 200);
      sendJson(res, 200, { object: 'list', data: [{ id: b.spec.model, object: 'model', created: 0, owned_by: `agent-machine:${b.spec.provider}` }] });
      return;
    }
    if (!servesPath(bc.binding.spec.provider, path)) {
      return this.#refuse(res, 'forward', { status: 404, type: 'invalid_request_error', code: 'unsupported_endpoint', message: `a ${bc.binding.spec.provider} binding does not serve ${path}` });
    }
    this.#forward(req, res, path, checked.execution, checked.effective, bc.binding).catch((err: unknown) => this.#internalError(res, 'forward', err));
  }

  #binding(ex: LocalAgentExecution): ModelProviderBinding | undefined {
    const ref = ex.spec.modelProviderRef;
    return ref ? this.#o.informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined;
  }

  async #forward(req: http.IncomingMessage, res: http.ServerResponse, path: string, ex: LocalAgentExecution, effective: FullBudget, binding: ModelProviderBinding): Promise<void> {
    const reservation = this.#o.ledger.reserve(ex, effective, 'modelCall');
    if (!reservation.ok) return this.#budgetRefusal(res, 'forward', reservation);
    let settled = false;
    const release = () => {
      if (!settled) reservation.release();
      settled = true;
    };
    const commit = (tokens: number) => {
      if (settled) return;
      settled = true;
      reservation.commit(tokens);
      if (tokens > 0) this.#tokensCounted.inc(tokens);
    };

    let raw: Buffer;
    try {
      raw = await readBody(req, this.#o.maxBodyBytes ?? 16 * 1024 * 1024);
    } catch (err) {
      release();
      const tooLarge = (err as Error).message === 'too large';
      return this.#refuse(res, 'forward', { status: tooLarge ? 413 : 400, type: 'invalid_request_error', code: tooLarge ? 'body_too_large' : 'bad_body', message: tooLarge ? 'request body too large' : 'the request body could not be read' });
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      release();
      return this.#refuse(res, 'forward', { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: 'the request body is not a JSON object' });
    }
    const model = binding.spec.model;
    let modified = false;
    if (body.model === undefined) {
      body.model = model;
      modified = true;
    } else if (body.model !== model) {
      release();
      return this.#refuse(res, 'forward', { status: 400, type: 'invalid_request_error', code: 'model_not_allowed', message: `this execution's binding ${binding.metadata.name} serves model ${model} only` });
    }
    const allowance = tokenAllowance(path, body, raw.length, reservation.tokensLeft());
    if (!allowance.ok) {
      release();
      const message = `budget exhausted: tokens: this call needs about ${allowance.needed} and ${Math.max(0, allowance.left)} of ${effective.tokens ?? 0} are left (calls in flight hold their allowance)`;
      return this.#refuse(res, 'forward', { status: 429, type: 'budget_exceeded', code: 'budget_exceeded', dimension: 'tokens', message });
    }
    reservation.holdTokens(allowance.hold);
    if (allowance.cap) {
      body[allowance.cap.field] = allowance.cap.value;
      modified = true;
    }
    const streaming = body.stream === true;
    let addedUsage = false;
    if (streaming && binding.spec.provider !== 'anthropic' && path !== '/v1/embeddings') {
      const so = body.stream_options;
      const asked = typeof so === 'object' && so !== null && (so as Record<string, unknown>).include_usage === true;
      if (!asked) {
        body.stream_options = { ...(typeof so === 'object' && so !== null ? so : {}), include_usage: true };
        addedUsage = true;
        modified = true;
      }
    }
    const payload = modified ? Buffer.from(JSON.stringify(body)) : raw;

    let credential: string | undefined;
    const ref = binding.spec.credentialsSecretRef;
    if (ref) {
      let lookup = this.#o.credentials.get(binding.metadata.namespace!, ref);
      if (lookup instanceof Promise) {
        try {
          lookup = await lookup;
        } catch {
          release();
          return this.#refuse(res, 'forward', { status: 503, type: 'service_unavailable', code: 'credential_unavailable', message: `the credential of binding ${binding.metadata.name} could not be read` });
        }
      }
      if (!lookup.found) {
        release();
        return this.#refuse(res, 'forward', { status: 503, type: 'service_unavailable', code: 'credential_unavailable', message: `the credential of binding ${binding.metadata.name} is not available` });
      }
      credential = lookup.value;
    }

    const up = this.#upstream(binding.spec.endpoint);
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': payload.length, ...credentialHeaders(binding.spec.provider, credential) };
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string' && !(h === 'anthropic-version' && binding.spec.provider !== 'anthropic')) headers[h] = v;
    }
    const isHttps = up.url.protocol === 'https:';
    const started = performance.now();
    const upReq = (isHttps ? https : http).request({
      agent: isHttps ? this.#httpsAgent : this.#httpAgent,
      protocol: up.url.protocol,
      hostname: up.url.hostname.replace(/^\[|\]$/g, ''),
      port: up.url.port || (isHttps ? 443 : 80),
      path: upstreamPath(up, path),
      method: 'POST',
      headers,
    });
    upReq.setTimeout(this.#o.upstreamTimeoutMs ?? 600_000, () => upReq.destroy(Object.assign(new Error('upstream idle timeout'), { code: 'ETIMEDOUT' })));
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    upReq.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        commit(0);
        res.destroy();
        return;
      }
      release();
      this.#refuse(res, 'forward', { status: 502, type: 'api_error', code: 'upstream_unreachable', message: `the model provider could not be reached (${err.code ?? 'error'})` });
    });
    upReq.on('response', (upRes) => {
      // Errors of the response stream end in 'close' (handled below); never an uncaught 'error'.
      upRes.on('error', () => undefined);
      const status = upRes.statusCode ?? 502;
      if (status === 401 || status === 403) {
        upRes.resume();
        release();
        return this.#refuse(res, 'forward', { status: 502, type: 'api_error', code: 'upstream_auth_failed', message: `the model provider refused the binding's credential (HTTP ${status})` });
      }
      if (status < 200 || status >= 300) {
        const chunks: Buffer[] = [];
        let size = 0;
        upRes.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 1024 * 1024) chunks.push(c);
        });
        upRes.on('end', () => {
          release();
          const text = scrub(Buffer.concat(chunks).toString('utf8'), [credential, ...this.#o.credentials.values()]);
          this.#count('forward', status);
          res.writeHead(status, { 'content-type': String(upRes.headers['content-type'] ?? 'application/json') }).end(text);
        });
        upRes.on('close', () => {
          if (!upRes.complete) (release(), res.destroy());
        });
        return;
      }
      const outHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !DROPPED_RESPONSE_HEADERS.has(k)) outHeaders[k] = v;
      const contentType = String(upRes.headers['content-type'] ?? '');
      if (contentType.includes('text/event-stream')) {
        const filter = new SseUsageFilter({ dropUsageChunks: addedUsage });
        res.writeHead(status, outHeaders);
        upRes.setEncoding('utf8');
        upRes.on('data', (chunk: string) => {
          const out = filter.push(chunk);
          if (out.length > 0) res.write(out);
        });
        upRes.on('end', () => {
          res.end(filter.flush());
          const tokens = filter.usage?.tokens ?? 0;
          commit(tokens);
          this.#done(ex, status, tokens, started);
        });
        // A client that went away or a provider that broke off mid-stream: count what was reported.
        upRes.on('close', () => {
          if (!upRes.complete) (commit(filter.usage?.tokens ?? 0), res.destroy());
        });
        return;
      }
      // A JSON answer, kept to read usage at the end. Small ones (most completions) go out in one
      // write when complete (one syscall instead of one per chunk); large ones (embeddings of
      // many inputs) are passed on chunk by chunk.
      const length = upRes.headers['content-length'];
      if (length !== undefined) outHeaders['content-length'] = length;
      const encoding = upRes.headers['content-encoding'];
      if (encoding !== undefined) outHeaders['content-encoding'] = encoding;
      const whole = length !== undefined && Number(length) <= SMALL_BODY_BYTES;
      if (!whole) res.writeHead(status, outHeaders);
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => {
        chunks.push(c);
        if (!whole) res.write(c);
      });
      upRes.on('end', () => {
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (whole) res.writeHead(status, outHeaders).end(all);
        else res.end();
        const usage = encoding === undefined || encoding === 'identity' ? usageFromJson(all.toString('utf8')) : undefined;
        const tokens = usage?.tokens ?? 0;
        commit(tokens);
        this.#done(ex, status, tokens, started);
      });
      upRes.on('close', () => {
        if (!upRes.complete) (commit(0), res.destroy());
      });
    });
    upReq.end(payload);
  }

  async #authorizeTool(req: http.IncomingMessage, res: http.ServerResponse, ex: LocalAgentExecution, effective: FullBudget, now: Date): Promise<void> {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return this.#refuse(res, 'tools', { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: 'the body must be a JSON object {tool, action}' }, true);
    }
    const profile = this.#o.informers.profiles.get(ex.spec.profileRef.name);
    const check = checkToolUse(ex, body.tool, body.action, this.#o.informers.grants.list(), now, (grant) => this.#toolPolicy(profile, grant, ex.spec.tenant));
    if (!check.ok) return this.#refuse(res, 'tools', check.refusal, true);
    const reservation = this.#o.ledger.reserve(ex, effective, 'connectorCall');
    if (!reservation.ok) return this.#budgetRefusal(res, 'tools', reservation, true);
    reservation.commit(0);
    this.#count('tools', 200);
    sendJson(res, 200, { allowed: true, tool: body.tool, action: body.action ?? null, grant: check.grant.metadata.name, execution: ex.metadata.name });
  }

  #modelPolicy(profile: AgentMachineProfile, binding: ModelProviderBinding, tenant: string | undefined): PolicyResult {
    const key = `m|${profile.metadata.uid}@${profile.metadata.resourceVersion}|${binding.metadata.uid}@${binding.metadata.resourceVersion}|${tenant ?? ''}`;
    return this.#cachedPolicy(key, () => evaluatePolicy(profile, modelProviderUseRequest(binding.spec, tenant)));
  }

  #toolPolicy(profile: AgentMachineProfile | undefined, grant: ToolGrantRecord, tenant: string | undefined): PolicyResult {
    if (!profile) return evaluatePolicy(undefined, toolGrantRequest(grant.spec, tenant));
    const key = `t|${profile.metadata.uid}@${profile.metadata.resourceVersion}|${grant.metadata.uid}@${grant.metadata.resourceVersion}|${tenant ?? ''}`;
    return this.#cachedPolicy(key, () => evaluatePolicy(profile, toolGrantRequest(grant.spec, tenant)));
  }

  #cachedPolicy(key: string, evaluate: () => PolicyResult): PolicyResult {
    const now = Date.now();
    const hit = this.#policyCache.get(key);
    if (hit && now - hit.at < POLICY_TTL_MS) return hit.result;
    const result = evaluate();
    if (this.#policyCache.size > 4096) this.#policyCache.clear();
    this.#policyCache.set(key, { result, at: now });
    return result;
  }

  #upstream(endpoint: string): Upstream {
    let up = this.#upstreams.get(endpoint);
    if (!up) {
      up = upstreamOf(endpoint);
      if (this.#upstreams.size > 1024) this.#upstreams.clear();
      this.#upstreams.set(endpoint, up);
    }
    return up;
  }

  #budgetRefusal(res: http.ServerResponse, route: Route, r: { dimension: string; used: number; limit: number }, tool = false): void {
    this.#budgetExhausted.inc({ dimension: r.dimension, route });
    this.#refuse(res, route, { status: 429, type: 'budget_exceeded', code: 'budget_exceeded', dimension: r.dimension, message: `budget exhausted: ${r.dimension} ${r.used} of ${r.limit} used` }, tool);
  }

  #refuse(res: http.ServerResponse, route: Route | 'unknown', refusal: Refusal, tool = false): void {
    this.#count(route, refusal.status);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const error = { message: refusal.message, type: refusal.type, code: refusal.code, param: null, ...(refusal.dimension ? { dimension: refusal.dimension } : {}) };
    sendJson(res, refusal.status, tool ? { allowed: false, reason: refusal.code, message: refusal.message, ...(refusal.dimension ? { dimension: refusal.dimension } : {}), error } : { error }, refusal.status === 401 ? { 'www-authenticate': 'Bearer realm="agent-machine-gateway"' } : undefined);
  }

  #internalError(res: http.ServerResponse, route: Route, err: unknown): void {
    this.#log.error({ route, error: err instanceof Error ? err.message : String(err) }, 'gateway request failed');
    this.#refuse(res, route, { status: 500, type: 'api_error', code: 'internal_error', message: 'the gateway failed to handle the request' });
  }

  #count(route: string, code: number): void {
    this.#requests.inc({ route, code: String(code) });
  }

  #done(ex: LocalAgentExecution, status: number, tokens: number, started: number): void {
    this.#count('forward', status);
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ execution: `${ex.metadata.namespace}/${ex.metadata.name}`, status, tokens, ms: Math.round((performance.now() - started) * 10) / 10 }, 'model call forwarded');
    }
  }
}

/** The token from Authorization: Bearer (OpenAI SDKs) or x-api-key (Anthropic SDKs). */
function presentedToken(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const key = req.headers['x-api-key'];
  return typeof key === 'string' && key.length > 0 ? key.trim() : undefined;
}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Error('too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra }).end(text);
}

/** Removes every occurrence of the given secret values (and their base64 forms). */
export function scrub(text: string, values: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const v of values) {
    if (!v || v.length < 4) continue;
    for (const form of [v, Buffer.from(v).toString('base64')]) if (out.includes(form)) out = out.split(form).join('[REDACTED]');
  }
  return out;
}
