// What a model call becomes, decided before anything is sent, pure: from the request (API path,
// raw body, the agent's headers) and what the execution may still use (tokens left), either a
// plan (the bytes to send, where, the tokens to hold while the call runs, whether the usage
// chunk of a stream was added by the gateway) or the refusal to answer.
//
//   body          a JSON object, else 400 invalid_json
//   model         the binding's (filled in when omitted), else 400 model_not_allowed
//   tokens        the call's allowance (token-allowance.ts) fits, else 429 tokens; a completion
//                 cap larger than what is left is lowered to it
//   streams       OpenAI-style streams get stream_options.include_usage so the call can be
//                 counted; the relay strips the usage-only chunk when the client did not ask
//   prompts       the prompt texts sent (prompt-memory.ts), for the redactor to remove them
//                 wherever the execution's output shows them
//   headers       only FORWARDED_REQUEST_HEADERS of the agent go on (never its token); the
//                 provider credential is added by the caller, not planned here
//
// The body is re-serialised only when something was changed; otherwise the agent's bytes go on.
import type { IncomingHttpHeaders } from 'node:http';
import type { ModelProviderBinding } from '../api/types.generated.ts';
import type { Refusal } from './gates.ts';
import { promptTexts } from './prompt-memory.ts';
import { servesPath } from './provider.ts';
import { tokenAllowance } from './token-allowance.ts';

/** Request headers of the agent that are passed on (everything else, credentials included, is not). */
const FORWARDED_REQUEST_HEADERS = ['accept', 'openai-beta', 'anthropic-version', 'anthropic-beta', 'user-agent', 'x-request-id'];

export interface ModelCallFacts {
  /** The API path, `/v1/...`. */
  path: string;
  /** The request body as received. */
  body: Buffer;
  headers: IncomingHttpHeaders;
  binding: ModelProviderBinding;
  /** Tokens the execution may still use, next to the usage and the calls in flight. */
  tokensLeft: number;
  /** The execution's token budget (for the refusal message). */
  tokenLimit: number | undefined;
}

export interface ModelCallPlan {
  /** The binding's endpoint and the API path to call there. */
  endpoint: string;
  path: string;
  /** The agent's headers that go on (no credential). */
  headers: Record<string, string>;
  payload: Buffer;
  /** Tokens held while the call runs. */
  hold: number;
  /** The gateway asked the stream for its usage chunk: drop it from the answer. */
  addedUsage: boolean;
  /** The prompt texts the payload carries. */
  prompts: string[];
}

export type PlanResult = { ok: true; plan: ModelCallPlan } | { ok: false; refusal: Refusal };

/** Whether the binding's provider serves the path at all (checked before any budget is held). */
export function checkServedPath(binding: ModelProviderBinding, path: string): Refusal | undefined {
  if (servesPath(binding.spec.provider, path)) return undefined;
  return { status: 404, type: 'invalid_request_error', code: 'unsupported_endpoint', message: `a ${binding.spec.provider} binding does not serve ${path}` };
}

export function planModelCall(f: ModelCallFacts): PlanResult {
  const { binding, path } = f;
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(f.body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Record<string, unknown>;
  } catch {
    return refused({ status: 400, type: 'invalid_request_error', code: 'invalid_json', message: 'the request body is not a JSON object' });
  }
  const model = binding.spec.model;
  let modified = false;
  if (body.model === undefined) {
    body.model = model;
    modified = true;
  } else if (body.model !== model) {
    return refused({ status: 400, type: 'invalid_request_error', code: 'model_not_allowed', message: `this execution's binding ${binding.metadata.name} serves model ${model} only` });
  }
  const allowance = tokenAllowance(path, body, f.body.length, f.tokensLeft);
  if (!allowance.ok) {
    const message = `budget exhausted: tokens: this call needs about ${allowance.needed} and ${Math.max(0, allowance.left)} of ${f.tokenLimit ?? 0} are left (calls in flight hold their allowance)`;
    return refused({ status: 429, type: 'budget_exceeded', code: 'budget_exceeded', dimension: 'tokens', message });
  }
  if (allowance.cap) {
    body[allowance.cap.field] = allowance.cap.value;
    modified = true;
  }
  let addedUsage = false;
  if (body.stream === true && binding.spec.provider !== 'anthropic' && path !== '/v1/embeddings') {
    const so = body.stream_options;
    const asked = typeof so === 'object' && so !== null && (so as Record<string, unknown>).include_usage === true;
    if (!asked) {
      body.stream_options = { ...(typeof so === 'object' && so !== null ? so : {}), include_usage: true };
      addedUsage = true;
      modified = true;
    }
  }
  return {
    ok: true,
    plan: {
      endpoint: binding.spec.endpoint,
      path,
      headers: forwardedHeaders(f.headers, binding.spec.provider === 'anthropic'),
      payload: modified ? Buffer.from(JSON.stringify(body)) : f.body,
      hold: allowance.hold,
      addedUsage,
      prompts: promptTexts(path, body),
    },
  };
}

function forwardedHeaders(headers: IncomingHttpHeaders, anthropic: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of FORWARDED_REQUEST_HEADERS) {
    const v = headers[h];
    if (typeof v === 'string' && !(h === 'anthropic-version' && !anthropic)) out[h] = v;
  }
  return out;
}

function refused(refusal: Refusal): PlanResult {
  return { ok: false, refusal };
}
