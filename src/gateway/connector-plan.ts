// A call through a tool connector ($AGENT_MACHINE_GATEWAY_URL/v1/tools/<tool>/<rest>), planned
// without I/O: which of the execution's tools the path names, whether the method and path are
// within the grant's connector, where it goes upstream, and the headers that go with it (the
// agent's own credentials stripped, the connector's credential presented). The grant itself
// (Active, actions, policy) is gates.ts checkToolUse; the budget is the ledger's.
//
//   path                  the longest of spec.tools with a connector grant that prefixes it
//   rest                  percent-decoding must not produce '.', '..', '/', '\' segments or
//                         control characters (no way around the path patterns)
//   http                  method in connector.methods (default GET, HEAD); rest matches one of
//                         connector.paths (path-glob.ts; absent = every path); action = method
//   mcp                   POST (JSON-RPC), GET (the server's SSE stream), DELETE (end the
//                         session) on the endpoint itself; each tools/call is judged later
//                         (mcp-judge.ts)
//   headers               hop-by-hop, Host, the agent's Authorization / Proxy-Authorization /
//                         x-api-key (its gateway token) and Cookie are not forwarded; the
//                         credential goes in connector.present.header (default Authorization)
//                         as connector.present.format (default `Bearer {value}`)
import type { IncomingHttpHeaders } from 'node:http';
import type { ToolGrantRecordSpec } from '../api/types.generated.ts';
import type { Refusal } from './gates.ts';
import { compileGlob, matchGlobs } from './path-glob.ts';

export type Connector = NonNullable<ToolGrantRecordSpec['connector']>;

export const CONNECTOR_PREFIX = '/v1/tools/';
export const DEFAULT_METHODS: readonly string[] = ['GET', 'HEAD'];
const MCP_METHODS: readonly string[] = ['POST', 'GET', 'DELETE'];

/** Never forwarded: connection-level, or the agent's own credentials and cookies. */
const DROPPED_REQUEST_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'cookie',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
]);

/** Never passed back to the agent. */
export const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'set-cookie', 'set-cookie2']);

export interface ConnectorRoute {
  tool: string;
  /** What follows the tool in the path: '' or '/...'. */
  rest: string;
}

/**
 * The tool a connector path names: the longest of the execution's tools (tool names contain
 * '/') that has a connector and prefixes the path at a segment boundary.
 */
export function connectorRouteOf(path: string, tools: readonly string[], hasConnector: (tool: string) => boolean): ConnectorRoute | undefined {
  if (!path.startsWith(CONNECTOR_PREFIX)) return undefined;
  const after = path.slice(CONNECTOR_PREFIX.length);
  const candidates = tools.filter((t) => after === t || after.startsWith(`${t}/`)).sort((a, b) => b.length - a.length);
  const tool = candidates.find(hasConnector);
  return tool === undefined ? undefined : { tool, rest: after.slice(tool.length) };
}

export interface ConnectorCallFacts {
  method: string;
  rest: string;
  /** The raw query string with its '?', or ''. Forwarded, never logged. */
  query: string;
  headers: IncomingHttpHeaders;
  connector: Connector;
  /** The credential's value, when the connector has one. */
  credential?: string;
  compile?: (pattern: string) => RegExp;
  /** The connector endpoint parsed (default: parsed on each call; EndpointCache remembers them). */
  endpoint?: (endpoint: string) => ConnectorEndpoint | undefined;
}

/** Where a connector's calls go: its origin and the path before the tool's own. */
export interface ConnectorEndpoint {
  origin: string;
  /** The endpoint's path without trailing slashes ('' for the root). */
  base: string;
}

/** The endpoint of a connector, or undefined when it is not an http(s) URL without credentials. */
export function parseConnectorEndpoint(endpoint: string): ConnectorEndpoint | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') return undefined;
  return { origin: url.origin, base: url.pathname.replace(/\/+$/, '') };
}

/** Parsed endpoints remembered by their text (a URL parsed per call costs more than the rest of the plan); owned by the gateway server, bounded. */
export class EndpointCache {
  readonly #parsed = new Map<string, ConnectorEndpoint | undefined>();
  readonly #max: number;

  constructor(max = 4096) {
    this.#max = max;
  }

  readonly parse = (endpoint: string): ConnectorEndpoint | undefined => {
    if (this.#parsed.has(endpoint)) return this.#parsed.get(endpoint);
    const parsed = parseConnectorEndpoint(endpoint);
    if (this.#parsed.size >= this.#max) this.#parsed.clear();
    this.#parsed.set(endpoint, parsed);
    return parsed;
  };
}

export interface ConnectorPlan {
  origin: string;
  /** Upstream path with the query. */
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  /** The action a policy sees: the method for http; per tools/call for mcp. */
  action?: string;
  /** Whether the request has a body to stream on. */
  hasBody: boolean;
}

export type ConnectorPlanResult = { ok: true; plan: ConnectorPlan } | { ok: false; refusal: Refusal };

const refuse = (status: number, type: string, code: string, message: string): ConnectorPlanResult => ({ ok: false, refusal: { status, type, code, message } });

/** Why a path after the tool could reach something its patterns do not name, if it could. */
export function unsafePathReason(rest: string): string | undefined {
  if (rest === '') return undefined;
  if (!rest.startsWith('/')) return 'the path must start with /';
  if (rest.includes('//')) return 'empty path segments are not forwarded';
  // Without '%' a segment decodes to itself: without '.', '\\' or a control character none is refused.
  if (!PATH_NEEDS_SEGMENT_CHECK.test(rest)) return undefined;
  for (const segment of rest.slice(1).split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return 'the path has a malformed percent-encoding';
    }
    if (decoded === '.' || decoded === '..') return 'dot segments (. and ..) are not forwarded';
    if (decoded.includes('/') || decoded.includes('\\')) return 'encoded slashes or backslashes are not forwarded';
    if (/[\u0000-\u001f\u007f]/.test(decoded)) return 'control characters are not forwarded';
  }
  return undefined;
}

const PATH_NEEDS_SEGMENT_CHECK = /[%.\\\u0000-\u001f\u007f]/;

export function planConnectorCall(f: ConnectorCallFacts): ConnectorPlanResult {
  const c = f.connector;
  const method = f.method.toUpperCase();
  const unsafe = unsafePathReason(f.rest);
  if (unsafe) return refuse(400, 'invalid_request_error', 'invalid_path', `connector path refused: ${unsafe}`);
  let action: string | undefined;
  if (c.protocol === 'mcp') {
    if (f.rest !== '' && f.rest !== '/') return refuse(404, 'invalid_request_error', 'unknown_url', 'an MCP connector is one endpoint: call /v1/tools/<tool> itself');
    if (!MCP_METHODS.includes(method)) return refuse(405, 'invalid_request_error', 'method_not_allowed', `an MCP connector takes ${MCP_METHODS.join(', ')}, not ${method}`);
  } else {
    const methods = c.methods && c.methods.length > 0 ? c.methods : DEFAULT_METHODS;
    if (!methods.includes(method as never)) return refuse(403, 'permission_error', 'connector_method_denied', `method ${method} is not among the connector's methods ${methods.join(', ')}`);
    const path = f.rest === '' ? '/' : f.rest;
    if (c.paths && c.paths.length > 0 && matchGlobs(path, c.paths, f.compile ?? compileGlob) === undefined) {
      return refuse(403, 'permission_error', 'connector_path_denied', `path ${path} matches none of the connector's paths`);
    }
    action = method;
  }
  const endpoint = (f.endpoint ?? parseConnectorEndpoint)(c.endpoint);
  if (!endpoint) return refuse(502, 'api_error', 'connector_misconfigured', 'the connector endpoint must be an http(s) URL without credentials');
  const path = `${endpoint.base}${f.rest}` || '/';
  return { ok: true, plan: { origin: endpoint.origin, path: `${path}${f.query}`, method, headers: forwardHeaders(f.headers, c, f.credential), ...(action !== undefined ? { action } : {}), hasBody: requestHasBody(method, f.headers) } };
}

/** The agent's headers without its own credentials and connection headers, plus the connector's credential. */
export function forwardHeaders(headers: IncomingHttpHeaders, c: Connector, credential: string | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // Headers the Connection header names are hop-by-hop too (RFC 9110 7.6.1); the usual
  // keep-alive or close names nothing that is not dropped anyway.
  const connection = headers.connection;
  const named =
    connection === undefined || /^\s*(keep-alive|close)\s*$/i.test(connection)
      ? undefined
      : new Set(
          String(connection)
            .split(',')
            .map((h) => h.trim().toLowerCase())
            .filter(Boolean),
        );
  const present = (c.present?.header ?? 'Authorization').toLowerCase();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(name) || named?.has(name) || name === present) continue;
    out[name] = value;
  }
  // The body is relayed as it is: a compressed answer could not be checked for the credential.
  out['accept-encoding'] = 'identity';
  if (credential !== undefined) out[present] = presentCredential(c, credential);
  return out;
}

export function presentCredential(c: Connector, credential: string): string {
  return (c.present?.format ?? 'Bearer {value}').split('{value}').join(credential);
}

function requestHasBody(method: string, headers: IncomingHttpHeaders): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}
