// One call through a tool connector ($AGENT_MACHINE_GATEWAY_URL/v1/tools/<tool>/<rest>), the
// steps in order (the execution is already authenticated by the router):
//
//   route        the longest of the execution's tools with a connector grant (connector-plan.ts)
//   grant        checkToolUse: an Active grant of this delegator/delegate/tenant with a
//                connector, and the profile's toolGrant policy with tool, action, method, path
//   plan         method and path within the connector (http), the upstream URL, the headers
//                (the agent's own Authorization/Proxy-Authorization/x-api-key stripped)
//   mcp          the POST body judged (mcp-judge.ts): ungranted tools/call → JSON-RPC error,
//                audited; each tools/call's policy; one connectorCall per tools/call
//   rbac         reauthorize: use the profile, grant the tool, get the credential Secret
//   budget       connectorCalls, calls in flight included (429 naming the dimension)
//   credential   the Secret value (credential cache), into the connector's header
//   upstream     undici, the agent's body streamed on; the answer streamed back with the
//                credential masked, tools/list results filtered (JSON or SSE)
//   streams      every answer still streaming is ended when its grant or execution stops
//                serving it (connector-streams.ts)
//
// Nothing here logs a path, a query, a header, a body or the credential.
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type { AgentMachineProfile, LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import { grantServesExecution } from '../governance/authority-loss.ts';
import type { ToolCallFacts } from '../governance/requests.ts';
import type { Informer } from '../operator/informer.ts';
import type { Logger } from '../observability/logger.ts';
import { objectKey } from '../operator/resource.ts';
import { START } from '../reconcilers/execution-decision.ts';
import { bodyOrRefusal, type GatewayAnswers } from './answers.ts';
import { auditRefusal, reauthorize, type CallAuthority } from './authenticate.ts';
import { connectorRouteOf, DROPPED_RESPONSE_HEADERS, planConnectorCall, presentCredential, type ConnectorEndpoint, type ConnectorPlan, type ConnectorRoute } from './connector-plan.ts';
import type { OpenStreams } from './connector-streams.ts';
import { Masker, maskInPlace } from './credential-mask.ts';
import { readWhole, relayBody, type ChunkStage } from './body-relay.ts';
import type { CredentialCache } from './credentials.ts';
import { checkToolUse, type Refusal } from './gates.ts';
import type { Reservation, UsageLedger } from './ledger.ts';
import { filterToolsList, judgeMcpPost, MCP_ERRORS, rpcError, type McpJudgement } from './mcp-judge.ts';
import type { PolicyCache } from './policy-cache.ts';
import { SseRewriter } from './sse-tools-filter.ts';
import { upstreamErrorCode, type UpstreamClient } from './upstream.ts';

/** Refusals of a call the grant does not cover: audited as ToolCallDenied. */
const DENIED_CALL_CODES: ReadonlySet<string> = new Set(['connector_method_denied', 'connector_path_denied', 'action_not_granted', 'policy_denied', 'no_connector']);
/** A JSON answer to a tools/list is read whole to be filtered; larger ones are refused. */
const MAX_LIST_ANSWER_BYTES = 16 * 1024 * 1024;
/** An answer of a declared length up to this goes out in one write, head and body. */
const ONE_WRITE_BYTES = 64 * 1024;

export interface ConnectorCallDeps {
  profiles: Informer<AgentMachineProfile>;
  /** The cached grants of a tool in a namespace (an informer index: no scan of every grant per call). */
  grantsOf: (namespace: string, tool: string) => ToolGrantRecord[];
  /** Compiled path patterns, remembered. */
  compileGlob: (pattern: string) => RegExp;
  /** Parsed connector endpoints, remembered (EndpointCache). */
  parseEndpoint?: (endpoint: string) => ConnectorEndpoint | undefined;
  ledger: UsageLedger;
  policies: PolicyCache;
  answers: GatewayAnswers;
  authority: CallAuthority;
  credentials: CredentialCache;
  upstream: UpstreamClient;
  streams: OpenStreams;
  log: Logger;
  maxBodyBytes: number;
}

type Granted = Extract<Reservation, { ok: true }>;

/** The connector tool a path names for this execution, if any. */
export function connectorRoute(d: Pick<ConnectorCallDeps, 'grantsOf'>, path: string, ex: LocalAgentExecution): ConnectorRoute | undefined {
  const ns = ex.metadata.namespace!;
  return connectorRouteOf(path, ex.spec.tools ?? [], (tool) => d.grantsOf(ns, tool).some((g) => g.spec.connector !== undefined && grantServesExecution(g, ex)));
}

export async function forwardConnectorCall(d: ConnectorCallDeps, req: http.IncomingMessage, res: http.ServerResponse, route: ConnectorRoute, query: string, ex: LocalAgentExecution, effective: FullBudget, now: Date): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const path = route.rest === '' ? '/' : route.rest;
  const profile = d.profiles.get(ex.spec.profileRef.name);
  const grants = d.grantsOf(ex.metadata.namespace!, route.tool);
  const policyFor = (call: ToolCallFacts) => (grant: ToolGrantRecord) => d.policies.toolUse(profile, grant, ex.spec.tenant, call);
  const refuse = async (refusal: Refusal): Promise<void> => {
    await auditRefusal(d.authority, ex, refusal);
    if (DENIED_CALL_CODES.has(refusal.code)) await auditDenied(d, ex, route.tool, refusal.message);
    d.answers.refuse(res, 'connector', refusal);
  };

  // The grant serves this execution through a connector. An http call's action is its method,
  // judged with the grant; an MCP call is judged here without one (initialize, tools/list),
  // each tools/call with its own name below. A tool whose connector grants are all http (the
  // usual case) is judged once, with its action.
  let grant: ToolGrantRecord;
  if (grants.every((g) => g.spec.connector === undefined || g.spec.connector.protocol === 'http')) {
    const covered = checkToolUse(ex, route.tool, method, grants, now, policyFor({ action: method, method, path }), { connector: true });
    if (!covered.ok) return refuse(covered.refusal);
    grant = covered.grant;
  } else {
    const served = checkToolUse(ex, route.tool, undefined, grants, now, policyFor({ method, path }), { connector: true, anyAction: true });
    if (!served.ok) return refuse(served.refusal);
    grant = served.grant;
    if (grant.spec.connector!.protocol === 'http') {
      const covered = checkToolUse(ex, route.tool, method, grants, now, policyFor({ action: method, method, path }), { connector: true });
      if (!covered.ok) return refuse(covered.refusal);
      grant = covered.grant;
    }
  }
  const c = grant.spec.connector!;
  const planned = planConnectorCall({ method, rest: route.rest, query, headers: req.headers, connector: c, compile: d.compileGlob, ...(d.parseEndpoint ? { endpoint: d.parseEndpoint } : {}) });
  if (!planned.ok) return refuse(planned.refusal);

  // MCP: the JSON-RPC of a POST is read and judged before anything is forwarded.
  let body: Buffer | Readable | null = planned.plan.hasBody ? req : null;
  let judged: Extract<McpJudgement, { ok: true }> | undefined;
  if (c.protocol === 'mcp' && method === 'POST') {
    const read = await bodyOrRefusal(req, d.maxBodyBytes);
    if ('refusal' in read) return refuse(read.refusal);
    const raw = read.raw;
    const granted = grant.spec.actions ?? [];
    const verdict = judgeMcpPost(raw, granted);
    if (!verdict.ok) {
      for (const r of verdict.refusedCalls) {
        d.answers.decidedWithin(res, 'mcp', r.name === undefined ? '(no name)' : r.name.slice(0, 128), 'denied', 'not_granted');
        await auditDenied(d, ex, route.tool, `tools/call ${r.name === undefined ? '(no name)' : JSON.stringify(r.name.slice(0, 128))} refused: ${r.message}`);
      }
      return sendJson(d, res, verdict.status, verdict.body, verdict.refusedCalls.length > 0 ? 'tools_call_refused' : 'invalid_request');
    }
    for (const name of verdict.calls) {
      const p = d.policies.toolUse(profile, grant, ex.spec.tenant, { action: name, method, path });
      if (!p.allowed) {
        const denial = p.decisions.find((x) => !x.allowed);
        const message = `tools/call ${JSON.stringify(name)} denied by toolGrant policy${denial ? ` (${denial.rule}: ${denial.message})` : ''}`;
        d.answers.decidedWithin(res, 'mcp', name.slice(0, 128), 'denied', 'policy_denied');
        await auditDenied(d, ex, route.tool, message);
        const error = (id: string | number) => rpcError(id, MCP_ERRORS.notGranted, 'policy_denied', message);
        return sendJson(d, res, 200, verdict.batch ? verdict.requestIds.map(error) : error(verdict.requestIds[0] ?? 0), 'policy_denied');
      }
    }
    judged = verdict;
    body = raw;
  }

  const asked = reauthorize(d.authority, ex, now, { tool: route.tool, ...(c.credentialsSecretRef ? { secret: c.credentialsSecretRef.name } : {}) });
  const lost = asked instanceof Promise ? await asked : asked;
  if (lost) return refuse(lost);

  // One connectorCall per http call, per MCP tools/call; other MCP messages are not counted.
  const count = c.protocol === 'http' ? 1 : (judged?.calls.length ?? 0);
  const reservations: Granted[] = [];
  for (let i = 0; i < count; i++) {
    const r = d.ledger.reserve(ex, effective, 'connectorCall');
    if (!r.ok) {
      for (const held of reservations) held.release();
      if (!judged) return d.answers.budgetRefusal(res, 'connector', r);
      // MCP: HTTP 429 naming the dimension, and a JSON-RPC error per request (ids kept).
      d.answers.budgetExhausted(r.dimension, 'connector');
      const message = `budget exhausted: ${r.dimension} ${r.used} of ${r.limit} used`;
      const error = (id: string | number | null) => ({ jsonrpc: '2.0', id, error: { code: MCP_ERRORS.budget, message, data: { reason: 'budget_exceeded', dimension: r.dimension } } });
      return sendJson(d, res, 429, judged.batch ? judged.requestIds.map(error) : error(judged.requestIds[0] ?? null), 'budget_exceeded');
    }
    reservations.push(r);
  }
  for (const name of judged?.calls ?? []) d.answers.decidedWithin(res, 'mcp', name.slice(0, 128), 'allowed', 'allowed');

  let credential: string | undefined;
  const ref = c.credentialsSecretRef;
  if (ref) {
    let lookup = d.credentials.get(grant.metadata.namespace!, ref);
    if (lookup instanceof Promise) {
      try {
        lookup = await lookup;
      } catch {
        lookup = { found: false, message: 'unreadable' };
      }
    }
    if (!lookup.found) {
      for (const held of reservations) held.release();
      return d.answers.refuse(res, 'connector', { status: 503, type: 'service_unavailable', code: 'credential_unavailable', message: `the credential of grant ${grant.metadata.name} is not available` });
    }
    credential = lookup.value;
  }
  const plan: ConnectorPlan = credential === undefined ? planned.plan : { ...planned.plan, headers: { ...planned.plan.headers, [(c.present?.header ?? 'Authorization').toLowerCase()]: presentCredential(c, credential) } };
  await relay(d, res, plan, body, { ex, grant, tool: route.tool, reservations, credential, mcp: c.protocol === 'mcp' ? { granted: grant.spec.actions ?? [], listsTools: judged?.listsTools ?? false } : undefined });
}

interface RelayContext {
  ex: LocalAgentExecution;
  grant: ToolGrantRecord;
  tool: string;
  reservations: Granted[];
  credential: string | undefined;
  mcp: { granted: readonly string[]; listsTools: boolean } | undefined;
}

async function relay(d: ConnectorCallDeps, res: http.ServerResponse, plan: ConnectorPlan, body: Buffer | Readable | null, x: RelayContext): Promise<void> {
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const started = performance.now();
  let up: Awaited<ReturnType<UpstreamClient['forward']>>;
  try {
    up = await d.upstream.forward({ origin: plan.origin, path: plan.path, method: plan.method, headers: plan.headers, body, signal: abort.signal });
  } catch (err) {
    for (const r of x.reservations) r.release();
    if (res.destroyed) return;
    return d.answers.refuse(res, 'connector', { status: 502, type: 'api_error', code: 'upstream_unreachable', message: `the connector of ${x.tool} could not be reached (${upstreamErrorCode(err)})` });
  }
  // The call reached the tool: it counts, whatever the answer.
  for (const r of x.reservations) r.commit(0);
  up.body.on('error', () => undefined);

  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !DROPPED_RESPONSE_HEADERS.has(k)) headers[k] = v;
  const type = String(up.headers['content-type'] ?? '');
  const secrets = x.credential ? [x.credential] : [];
  const filtering = x.mcp !== undefined && x.mcp.granted.length > 0;
  d.answers.passed(res, 'connector', up.statusCode);
  if (d.log.isLevelEnabled('debug')) {
    d.log.debug({ execution: `${x.ex.metadata.namespace}/${x.ex.metadata.name}`, tool: x.tool, method: plan.method, status: up.statusCode, ms: Math.round((performance.now() - started) * 10) / 10 }, 'connector call forwarded');
  }

  const tracked = (): (() => void) =>
    d.streams.add({
      grantKey: objectKey(x.grant),
      grantUid: x.grant.metadata.uid!,
      executionKey: objectKey(x.ex),
      executionUid: x.ex.metadata.uid!,
      close: (why) => {
        d.log.info({ execution: `${x.ex.metadata.namespace}/${x.ex.metadata.name}`, tool: x.tool, why }, 'connector stream ended: its authority is gone');
        abort.abort();
        up.body.destroy();
        res.destroy();
      },
    });

  // A JSON answer to a tools/list is read whole (bounded) to be filtered; any other answer of a
  // declared, short length is read whole too and sent with its head in one write (a call's
  // answer usually comes in one chunk: streaming it costs a write for the head, one for the
  // body, and the stream machinery). Everything else streams.
  const listAnswer = filtering && x.mcp!.listsTools && type.startsWith('application/json');
  const declared = Number(up.headers['content-length']);
  const short = !type.startsWith('text/event-stream') && Number.isSafeInteger(declared) && declared <= ONE_WRITE_BYTES;
  if (listAnswer || short) {
    const untrack = tracked();
    const raw = await readWhole(up.body, listAnswer ? MAX_LIST_ANSWER_BYTES : ONE_WRITE_BYTES);
    untrack();
    if (res.destroyed) return;
    if (raw === undefined) {
      if (listAnswer) return d.answers.refuse(res, 'connector', { status: 502, type: 'api_error', code: 'upstream_answer_too_large', message: 'the MCP server answered a tools/list with more than the gateway reads' });
      return d.answers.refuse(res, 'connector', { status: 502, type: 'api_error', code: 'upstream_answer_failed', message: `the connector of ${x.tool} broke off its answer` });
    }
    maskInPlace(raw, secrets.map((s) => Buffer.from(s)));
    let out = raw;
    if (listAnswer) {
      try {
        const f = filterToolsList(JSON.parse(raw.toString('utf8')), x.mcp!.granted);
        if (f.changed) out = Buffer.from(JSON.stringify(f.message));
      } catch {
        // Not JSON after all: passed on as it is (it lists no tools a client would accept).
      }
      headers['content-length'] = String(out.length);
    }
    res.writeHead(up.statusCode, headers).end(out);
    return;
  }

  const stages: ChunkStage[] = [new Masker(secrets)];
  if (filtering && type.startsWith('text/event-stream')) {
    stages.push(new SseRewriter(x.mcp!.granted));
    delete headers['content-length'];
  }
  res.writeHead(up.statusCode, headers);
  // A stream's head goes out at once: its first event may be a while coming.
  res.flushHeaders();
  relayBody(up.body, res, stages, tracked());
}

async function auditDenied(d: ConnectorCallDeps, ex: LocalAgentExecution, tool: string, message: string): Promise<void> {
  try {
    await d.authority.recorder.record(ex, { operationType: START, outcome: 'denied', reason: 'ToolCallDenied', message: `gateway refused a call through ${tool}: ${message}`, warning: true, actor: ex.spec.authority.delegator, delegate: ex.spec.authority.delegate });
  } catch (err) {
    d.log.error({ error: err instanceof Error ? err.message : String(err) }, 'could not audit a refused connector call');
  }
}

/** A JSON-RPC answer of the gateway's own to an MCP POST: the call was refused (reason: why). */
function sendJson(d: ConnectorCallDeps, res: http.ServerResponse, status: number, body: unknown, reason: string): void {
  d.answers.count('connector', status);
  d.answers.decided(res, 'denied', reason);
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
