// The first step of every call but /healthz: the presented token → the execution it speaks
// for (informer cache, no API call) → the execution's checks (gates.ts checkExecution); then,
// per route, the delegator's RBAC for what the call uses (reauthorize).
import type { IncomingHttpHeaders } from 'node:http';
import type { LocalAgentExecution } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import { AuthorizationUnavailableError, type AuthorizationRequest, type Authorizer } from '../reconcilers/authorization.ts';
import type { CommandRecorder } from '../reconcilers/command-recorder.ts';
import { START } from '../reconcilers/execution-decision.ts';
import { AUTHORITY_LOST_CODES, callPermissions, checkExecution, rbacRefusal, type ExecutionCheck, type Refusal } from './gates.ts';
import type { TokenStore } from './tokens.ts';

export function authenticate(headers: IncomingHttpHeaders, tokens: TokenStore, executions: Informer<LocalAgentExecution>, now: Date): ExecutionCheck {
  return authenticateToken(presentedToken(headers), tokens, executions, now);
}

/** The execution a token (from whichever header) speaks for, and whether it may still act. */
export function authenticateToken(token: string | undefined, tokens: TokenStore, executions: Informer<LocalAgentExecution>, now: Date): ExecutionCheck {
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

/**
 * The token of a proxy request (egress proxy): `Proxy-Authorization: Basic` with any user and
 * the token as the password (what clients send for http_proxy=http://agent:<token>@host:port),
 * or `Proxy-Authorization: Bearer <token>`.
 */
export function proxyToken(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers['proxy-authorization'];
  if (typeof auth !== 'string' || auth.length > 4096) return undefined;
  const space = auth.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = auth.slice(0, space).toLowerCase();
  const value = auth.slice(space + 1).trim();
  if (scheme === 'bearer') return value || undefined;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // Percent-encoding in the URL's userinfo is decoded by clients before they send it; a token never contains '%'.
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

/** The RBAC half of a call's authority, asked per call: the caches hold the rest (gates.ts). */
export interface CallAuthority {
  authorizer: Pick<Authorizer, 'authorize'> & Partial<Pick<Authorizer, 'allowsFromMemory'>>;
  /** Refusals for lost authority are audited against the execution. */
  recorder: Pick<CommandRecorder, 'record'>;
}

/** What a call uses beyond the execution itself: a tool (tool decisions) or the binding (model calls). */
export interface CallUse {
  tool?: string;
  binding?: string;
  /** A connector's credential Secret, read on the delegator's behalf. */
  secret?: string;
}

/**
 * Do the delegator's RBAC and the namespace's tenant still allow what this call uses? Allows
 * come from the authorizer's caches (≤ 10 s old), so a call costs no API round trip while
 * nothing changes; a removed RoleBinding or a relabelled namespace refuses calls within that
 * window. No answer refuses the call (503). Synchronous when the caches allow it all (await
 * the result either way).
 */
export function reauthorize(authority: CallAuthority, ex: LocalAgentExecution, now: Date, use: CallUse = {}): Refusal | undefined | Promise<Refusal | undefined> {
  const request: AuthorizationRequest = {
    authority: ex.spec.authority,
    operationType: START,
    ...(use.tool !== undefined ? { toolRefs: [use.tool] } : {}),
    permissions: callPermissions(ex, use),
    tenancy: { namespace: ex.metadata.namespace!, tenant: ex.spec.tenant },
    now,
  };
  // Allowed by what the authorizer remembers: answered at once (the call's hot path: no promise).
  if (authority.authorizer.allowsFromMemory?.(request)) return undefined;
  return reauthorizeAsking(authority, ex, use, request);
}

async function reauthorizeAsking(authority: CallAuthority, ex: LocalAgentExecution, use: CallUse, request: AuthorizationRequest): Promise<Refusal | undefined> {
  try {
    const outcome = await authority.authorizer.authorize(request);
    // A tool the execution was not admitted with was never its authority: refused, not lost.
    return rbacRefusal(outcome, use.tool === undefined || (ex.spec.tools ?? []).includes(use.tool));
  } catch (err) {
    if (!(err instanceof AuthorizationUnavailableError)) throw err;
    return { status: 503, type: 'service_unavailable', code: 'authorization_unavailable', message: `the delegator's RBAC could not be re-checked: ${err.message}` };
  }
}

/** Audit a refusal that means lost authority (AUTHORITY_LOST_CODES); others are only counted. */
export async function auditRefusal(authority: CallAuthority, ex: LocalAgentExecution, refusal: Refusal): Promise<void> {
  if (!AUTHORITY_LOST_CODES.has(refusal.code)) return;
  await authority.recorder.record(ex, { operationType: START, outcome: 'denied', reason: 'AuthorityLost', message: `gateway call refused: ${refusal.message}`, warning: true, actor: ex.spec.authority.delegator, delegate: ex.spec.authority.delegate });
}
