// How the gateway answers, for every route: JSON bodies, OpenAI-shaped refusals (the tool
// decision endpoint adds {allowed: false, reason}), the counters of /metrics, and — for a call
// the router attributed to an execution — its decision in the batched audit (decision-audit.ts).
// Nothing here puts a token, a credential or prompt text into a body, a label or a record.
import type http from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { LocalAgentExecution } from '../api/types.generated.ts';
import type { GatewayCallKind } from '../governance/audit-log.ts';
import { subjectOf, type DecisionSubject, type GatewayDecisionAudit } from './decision-audit.ts';
import type { Refusal } from './gates.ts';

export type Route = 'models' | 'forward' | 'tools' | 'connector' | 'egress';

/** Whose call a response answers, and what it uses (the binding, the tool). */
type Attribution = { subject: DecisionSubject; kind: GatewayCallKind; target: string };

export class GatewayAnswers {
  readonly #requests: Counter<'route' | 'code'>;
  readonly #tokensCounted: Counter;
  readonly #budgetExhausted: Counter<'dimension' | 'route'>;
  readonly #audit: GatewayDecisionAudit | undefined;
  /** Responses → their call's attribution, until its decision is noted (then removed). */
  readonly #attributed = new WeakMap<http.ServerResponse, Attribution>();
  /** Each execution object's audit subject (an update replaces the object, and so the subject). */
  readonly #subjects = new WeakMap<LocalAgentExecution, DecisionSubject>();
  /** The request counter's children by route and status (a label lookup hashes its labels on every inc). */
  readonly #requestChildren = new Map<string, { inc(): void }>();

  constructor(registry: Registry | undefined, audit?: GatewayDecisionAudit) {
    this.#audit = audit;
    const registers = registry ? [registry] : [];
    this.#requests = new Counter({ name: 'agent_machine_gateway_requests_total', help: 'Gateway requests by route and HTTP status.', labelNames: ['route', 'code'] as const, registers });
    this.#tokensCounted = new Counter({ name: 'agent_machine_gateway_tokens_total', help: 'Tokens the providers reported for calls through the gateway.', registers });
    this.#budgetExhausted = new Counter({ name: 'agent_machine_gateway_budget_exhausted_total', help: 'Calls refused with 429 because an execution budget dimension was used up, by dimension and route.', labelNames: ['dimension', 'route'] as const, registers });
  }

  count(route: Route | 'unknown', code: number): void {
    // Routes and statuses are few: the map stays small.
    const key = `${route} ${code}`;
    let child = this.#requestChildren.get(key);
    if (child === undefined) {
      child = this.#requests.labels(route, String(code));
      this.#requestChildren.set(key, child);
    }
    child.inc();
  }

  /** The call this response answers is the execution's: its decision will be audited. */
  attribute(res: http.ServerResponse, ex: LocalAgentExecution, kind: GatewayCallKind, target: string): void {
    if (!this.#audit) return;
    let subject = this.#subjects.get(ex);
    if (subject === undefined) {
      subject = subjectOf(ex);
      this.#subjects.set(ex, subject);
    }
    this.#attributed.set(res, { subject, kind, target });
  }

  /** What the call uses, once known (a tool decision names its tool in the body). */
  retarget(res: http.ServerResponse, target: string): void {
    const a = this.#attributed.get(res);
    if (a) a.target = target;
  }

  /** The call's decision (the first one noted counts; later answers to the same call do not). */
  decided(res: http.ServerResponse, decision: 'allowed' | 'denied', reason: string): void {
    const a = this.#attributed.get(res);
    if (!a) return;
    this.#attributed.delete(res);
    this.#audit!.call(a.subject, a.kind, a.target, decision, reason);
  }

  /** A decision inside the call (each MCP tools/call), besides the call's own. */
  decidedWithin(res: http.ServerResponse, kind: GatewayCallKind, target: string, decision: 'allowed' | 'denied', reason: string): void {
    const a = this.#attributed.get(res);
    if (a) this.#audit!.call(a.subject, kind, target, decision, reason);
  }

  /** An upstream answer passed on with this status: the call was allowed. */
  passed(res: http.ServerResponse, route: Route, status: number): void {
    this.count(route, status);
    this.decided(res, 'allowed', 'forwarded');
  }

  tokensCounted(tokens: number): void {
    this.#tokensCounted.inc(tokens);
  }

  json(res: http.ServerResponse, route: Route, status: number, body: unknown): void {
    this.count(route, status);
    this.decided(res, status < 400 ? 'allowed' : 'denied', status < 400 ? 'allowed' : `status_${status}`);
    sendJson(res, status, body);
  }

  refuse(res: http.ServerResponse, route: Route | 'unknown', refusal: Refusal, tool = false): void {
    this.count(route, refusal.status);
    this.decided(res, 'denied', refusal.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const error = { message: refusal.message, type: refusal.type, code: refusal.code, param: null, ...(refusal.dimension ? { dimension: refusal.dimension } : {}) };
    sendJson(res, refusal.status, tool ? { allowed: false, reason: refusal.code, message: refusal.message, ...(refusal.dimension ? { dimension: refusal.dimension } : {}), error } : { error }, refusal.status === 401 ? { 'www-authenticate': 'Bearer realm="agent-machine-gateway"' } : undefined);
  }

  /** Counts a call refused because a budget dimension was used up (the route answered it itself). */
  budgetExhausted(dimension: string, route: Route): void {
    this.#budgetExhausted.inc({ dimension, route });
  }

  /** A 429 for a budget dimension used up (ledger.reserve refused). */
  budgetRefusal(res: http.ServerResponse, route: Route, r: { dimension: string; used: number; limit: number }, tool = false): void {
    this.budgetExhausted(r.dimension, route);
    this.refuse(res, route, { status: 429, type: 'budget_exceeded', code: 'budget_exceeded', dimension: r.dimension, message: `budget exhausted: ${r.dimension} ${r.used} of ${r.limit} used` }, tool);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra }).end(text);
}

/** The request body, or the refusal to answer when it is too large (413) or unreadable (400). */
export async function bodyOrRefusal(req: http.IncomingMessage, max: number): Promise<{ raw: Buffer } | { refusal: Refusal }> {
  try {
    return { raw: await readBody(req, max) };
  } catch (err) {
    const tooLarge = (err as Error).message === 'too large';
    return { refusal: { status: tooLarge ? 413 : 400, type: 'invalid_request_error', code: tooLarge ? 'body_too_large' : 'bad_body', message: tooLarge ? 'request body too large' : 'the request body could not be read' } };
  }
}

/** The request body, refused past max bytes ('too large'). */
export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
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
