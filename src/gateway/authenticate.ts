// The first step of every call but /healthz: the presented token → the execution it speaks
// for (informer cache, no API call) → the execution's checks (gates.ts checkExecution).
import type { IncomingHttpHeaders } from 'node:http';
import type { LocalAgentExecution } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import { checkExecution, type ExecutionCheck } from './gates.ts';
import type { TokenStore } from './tokens.ts';

export function authenticate(headers: IncomingHttpHeaders, tokens: TokenStore, executions: Informer<LocalAgentExecution>, now: Date): ExecutionCheck {
  const token = presentedToken(headers);
  const identity = token === undefined ? undefined : tokens.resolve(token);
  const ex = identity ? executions.get(`${identity.namespace}/${identity.execution}`) : undefined;
  return checkExecution(identity, ex, now, identity === undefined && token !== undefined ? tokens.revokedIdentity(token) : undefined);
}

/** The token from Authorization: Bearer (OpenAI SDKs) or x-api-key (Anthropic SDKs). */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const key = headers['x-api-key'];
  return typeof key === 'string' && key.length > 0 ? key.trim() : undefined;
}
