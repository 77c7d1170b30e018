// What the gateway reads in MCP traffic (Streamable HTTP: JSON-RPC 2.0 messages POSTed by the
// client, answered as JSON or as an SSE stream), pure:
//
//   judgeMcpPost     a POST body (one message or a batch), element by element: a tools/call
//                    whose params.name is not exactly one of the grant's actions (no actions =
//                    every tool) is refused; a name that is not in Unicode NFKC form, or that
//                    differs from a granted one only by case, is refused as such (confusables);
//                    methods MCP does not define are refused; malformed messages are refused.
//                    One refused element refuses the whole POST (nothing is forwarded: a tool
//                    call hidden in a batch cannot ride along with harmless ones), and every
//                    request of the batch gets its JSON-RPC error, ids preserved.
//   filterToolsList  a server message: a result listing tools keeps only the granted ones.
//
// The JSON-RPC errors the gateway sends (server-error range, data.reason says why):
//   -32700 parse error   -32600 invalid request   -32601 method not found   -32602 no tool name
//   -32001 tool not granted   -32002 budget exhausted (HTTP 429)   -32003 not forwarded (batch)

export const MCP_ERRORS = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, notGranted: -32001, budget: -32002, batchRefused: -32003 } as const;

/** Client → server methods of MCP (2025-06-18 and 2025-11-25), and the notifications a client sends. */
const CLIENT_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'logging/setLevel',
  'completion/complete',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
]);

export type Id = string | number;

export interface JsonRpcError {
  jsonrpc: '2.0';
  id: Id | null;
  error: { code: number; message: string; data?: { reason: string; [k: string]: unknown } };
}

export interface RefusedCall {
  /** The tool name as sent (a string, possibly hostile), or undefined when there was none. */
  name: string | undefined;
  reason: string;
  message: string;
}

export type McpJudgement =
  | {
      ok: true;
      /** The tools/call names, in order: one connectorCall each. */
      calls: string[];
      /** Whether a tools/list awaits its answer (a JSON answer is then read whole, to filter it). */
      listsTools: boolean;
      /** The ids of the requests, in order (for a refusal of the whole POST, e.g. the budget). */
      requestIds: Id[];
      batch: boolean;
    }
  | {
      ok: false;
      status: number;
      /** One error (single message) or an array of them (batch); null when nothing may be answered. */
      body: JsonRpcError | JsonRpcError[];
      /** The refused tools/call elements, for the audit. */
      refusedCalls: RefusedCall[];
      /** Refusal counts by reason, for the corpus tests and the message. */
      reasons: string[];
    };

export const rpcError = (id: Id | null, code: number, reason: string, message: string): JsonRpcError => ({ jsonrpc: '2.0', id, error: { code, message, data: { reason } } });

type ElementVerdict = { kind: 'request' | 'notification' | 'response'; id: Id | null; call?: string; lists?: boolean; refusal?: { code: number; reason: string; message: string; call?: RefusedCall } };

const isId = (v: unknown): v is Id => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Is `name` one of the granted tool names? Exact comparison of NFKC-normal names only. */
export function toolNameVerdict(name: string, granted: readonly string[]): { ok: true } | { ok: false; reason: string; message: string } {
  const shown = JSON.stringify(name.length > 128 ? `${name.slice(0, 128)}…` : name);
  if (name.normalize('NFKC') !== name) return { ok: false, reason: 'tool_name_not_normalized', message: `tool ${shown} is not in Unicode NFKC form (compatibility characters or confusables): names are compared exactly` };
  if (granted.length === 0 || granted.includes(name)) return { ok: true };
  const lower = name.toLowerCase();
  const nearly = granted.find((g) => g.toLowerCase() === lower);
  if (nearly !== undefined) return { ok: false, reason: 'tool_not_granted', message: `tool ${shown} is not granted (it differs from the granted ${JSON.stringify(nearly)} by case: names are compared exactly)` };
  if (/[^\x20-\x7e]/.test(name)) return { ok: false, reason: 'tool_not_granted', message: `tool ${shown} is not granted (granted tool names are ASCII)` };
  return { ok: false, reason: 'tool_not_granted', message: `tool ${shown} is not granted to this execution` };
}

function judgeElement(m: unknown, granted: readonly string[]): ElementVerdict {
  if (!isObject(m) || m.jsonrpc !== '2.0') return { kind: 'request', id: isObject(m) && isId(m.id) ? m.id : null, refusal: { code: MCP_ERRORS.invalidRequest, reason: 'invalid_request', message: 'not a JSON-RPC 2.0 message' } };
  const hasId = 'id' in m;
  if (hasId && !isId(m.id)) return { kind: 'request', id: null, refusal: { code: MCP_ERRORS.invalidRequest, reason: 'invalid_request', message: 'id must be a string or a number' } };
  const id = hasId ? (m.id as Id) : null;
  if (!('method' in m)) {
    // A response to a request of the server (sampling, elicitation, roots): passed on.
    if (hasId && ('result' in m || 'error' in m)) return { kind: 'response', id };
    return { kind: 'request', id, refusal: { code: MCP_ERRORS.invalidRequest, reason: 'invalid_request', message: 'neither a request, a notification nor a response' } };
  }
  const kind = hasId ? 'request' : 'notification';
  if (typeof m.method !== 'string' || !CLIENT_METHODS.has(m.method)) {
    const shown = typeof m.method === 'string' ? JSON.stringify(m.method.slice(0, 128)) : 'a non-string method';
    return { kind, id, refusal: { code: MCP_ERRORS.methodNotFound, reason: 'unknown_method', message: `${shown} is not an MCP method the gateway forwards` } };
  }
  if (m.params !== undefined && !isObject(m.params)) return { kind, id, refusal: { code: MCP_ERRORS.invalidRequest, reason: 'invalid_request', message: 'params must be an object' } };
  if (m.method === 'tools/call') {
    if (kind !== 'request') return { kind, id, refusal: { code: MCP_ERRORS.invalidRequest, reason: 'invalid_request', message: 'tools/call must be a request (with an id)' } };
    const name = (m.params as Record<string, unknown> | undefined)?.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
      return { kind, id, refusal: { code: MCP_ERRORS.invalidParams, reason: 'invalid_tool_name', message: 'tools/call needs params.name, a tool name', call: { name: undefined, reason: 'invalid_tool_name', message: 'no tool name' } } };
    }
    const v = toolNameVerdict(name, granted);
    if (!v.ok) return { kind, id, refusal: { code: MCP_ERRORS.notGranted, reason: v.reason, message: v.message, call: { name, reason: v.reason, message: v.message } } };
    return { kind, id, call: name };
  }
  return { kind, id, lists: m.method === 'tools/list' };
}

/** Judges a POST body. `granted`: the grant's actions (empty = every tool). */
export function judgeMcpPost(raw: Buffer | string, granted: readonly string[]): McpJudgement {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { ok: false, status: 400, body: rpcError(null, MCP_ERRORS.parse, 'parse_error', 'the body is not JSON'), refusedCalls: [], reasons: ['parse_error'] };
  }
  const batch = Array.isArray(parsed);
  const messages = batch ? (parsed as unknown[]) : [parsed];
  if (messages.length === 0) return { ok: false, status: 400, body: rpcError(null, MCP_ERRORS.invalidRequest, 'invalid_request', 'an empty batch'), refusedCalls: [], reasons: ['invalid_request'] };
  if (messages.length > 256) return { ok: false, status: 400, body: rpcError(null, MCP_ERRORS.invalidRequest, 'invalid_request', 'a batch of more than 256 messages'), refusedCalls: [], reasons: ['invalid_request'] };
  const verdicts = messages.map((m) => judgeElement(m, granted));
  const refused = verdicts.filter((v) => v.refusal);
  if (refused.length === 0) {
    return {
      ok: true,
      calls: verdicts.flatMap((v) => (v.call !== undefined ? [v.call] : [])),
      listsTools: verdicts.some((v) => v.lists),
      requestIds: verdicts.flatMap((v) => (v.kind === 'request' && v.id !== null ? [v.id] : [])),
      batch,
    };
  }
  const refusedCalls = refused.flatMap((v) => (v.refusal!.call ? [v.refusal!.call] : []));
  const reasons = refused.map((v) => v.refusal!.reason);
  if (!batch) {
    const v = verdicts[0]!;
    const r = v.refusal!;
    // A refused notification has no id to answer: the HTTP status carries it.
    return { ok: false, status: v.kind === 'request' ? (r.code === MCP_ERRORS.invalidRequest ? 400 : 200) : 400, body: rpcError(v.id, r.code, r.reason, r.message), refusedCalls, reasons };
  }
  const first = verdicts.findIndex((v) => v.refusal);
  const body = verdicts.flatMap((v): JsonRpcError[] => {
    if (v.refusal) return v.kind === 'request' ? [rpcError(v.id, v.refusal.code, v.refusal.reason, v.refusal.message)] : [];
    return v.kind === 'request' ? [rpcError(v.id, MCP_ERRORS.batchRefused, 'batch_refused', `not forwarded: element ${first} of the batch was refused`)] : [];
  });
  return { ok: false, status: body.length > 0 ? 200 : 400, body: body.length > 0 ? body : [rpcError(null, MCP_ERRORS.invalidRequest, reasons[0]!, 'the batch was refused')], refusedCalls, reasons };
}

/** A server message with a tools list keeps only the granted tools; anything else is returned as is. */
export function filterToolsList(message: unknown, granted: readonly string[]): { message: unknown; changed: boolean } {
  if (granted.length === 0) return { message, changed: false };
  if (Array.isArray(message)) {
    let changed = false;
    const out = message.map((m) => {
      const f = filterToolsList(m, granted);
      changed ||= f.changed;
      return f.message;
    });
    return { message: out, changed };
  }
  if (!isObject(message) || !isObject(message.result) || !Array.isArray(message.result.tools)) return { message, changed: false };
  const tools = message.result.tools.filter((t) => isObject(t) && typeof t.name === 'string' && toolNameVerdict(t.name, granted).ok);
  if (tools.length === message.result.tools.length) return { message, changed: false };
  return { message: { ...message, result: { ...message.result, tools } }, changed: true };
}
