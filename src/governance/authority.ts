// Does the delegation on an object cover what is being done? Pure: the caller supplies `now`.
// This checks the delegation as written; whether the delegator may delegate it at all is the
// SubjectAccessReview's job (access-review.ts).
import type { Authority, OperationType } from '../api/types.generated.ts';
import { allow, deny, listForMessage, type Decision } from './decision.ts';

export const AUTHORITY_GATE = 'authority';
export const TOOL_SCOPE_PREFIX = 'tool:';

export type AuthorityRequest = {
  operationType: OperationType;
  toolRefs?: readonly string[];
  now: Date;
};

// Date.parse also accepts "March 7" and friends; a delegation's expiry must be unambiguous.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseExpiry(expiresAt: unknown): Date | undefined {
  const ms = expiryMs(expiresAt);
  return ms === undefined ? undefined : new Date(ms);
}

/** parseExpiry as epoch milliseconds (no Date allocated: the gateway asks on every call). */
export function expiryMs(expiresAt: unknown): number | undefined {
  if (typeof expiresAt !== 'string' || !RFC3339.test(expiresAt)) return undefined;
  const ms = Date.parse(expiresAt);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * A scope covers an operation type when it equals it or is a prefix wildcard ending in `.*`
 * (`agent_machine.execution.*`, `agent_machine.*`). A bare `*` covers nothing: "everything"
 * is ambient authority by another name.
 */
export function scopeCoversOperation(scope: string, operationType: string): boolean {
  if (scope === operationType) return true;
  if (!scope.endsWith('.*')) return false;
  const prefix = scope.slice(0, -1); // keep the dot: `agent_machine.exec.*` must not cover `agent_machine.execution.start`
  return prefix.length > 1 && operationType.startsWith(prefix);
}

/** `tool:NAME` (exact), `tool:*` (any tool) or `tool:PREFIX*` (tools whose name starts with PREFIX). */
export function scopeCoversTool(scope: string, tool: string): boolean {
  if (!scope.startsWith(TOOL_SCOPE_PREFIX)) return false;
  const pattern = scope.slice(TOOL_SCOPE_PREFIX.length);
  if (pattern.endsWith('*')) return tool.startsWith(pattern.slice(0, -1));
  return pattern === tool;
}

/**
 * Whether checkAuthority would deny nothing, answered without building its decisions and their
 * messages (the gateway asks this on every call; a caller that needs the reason asks
 * checkAuthority when this is false).
 */
export function authorityHolds(authority: Authority | undefined, request: AuthorityRequest): boolean {
  if (authority === undefined || authority === null || typeof authority !== 'object') return false;
  const expiry = expiryMs(authority.expiresAt);
  if (expiry === undefined || expiry <= request.now.getTime()) return false;
  const scopes = Array.isArray(authority.scopes) ? authority.scopes : [];
  let operation = false;
  for (const s of scopes) {
    if (typeof s === 'string' && scopeCoversOperation(s, request.operationType)) {
      operation = true;
      break;
    }
  }
  if (!operation) return false;
  for (const tool of request.toolRefs ?? []) {
    let covered = false;
    for (const s of scopes) {
      if (typeof s === 'string' && scopeCoversTool(s, tool)) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

export function checkAuthority(authority: Authority | undefined, request: AuthorityRequest): Decision[] {
  if (authority === undefined || authority === null || typeof authority !== 'object') {
    return [deny(AUTHORITY_GATE, 'authority.missing', 'no spec.authority: nothing runs without an explicit delegation')];
  }
  const scopes = Array.isArray(authority.scopes) ? authority.scopes.filter((s) => typeof s === 'string') : [];
  return [
    checkExpiry(authority, request.now),
    checkOperationScope(scopes, request.operationType),
    ...(request.toolRefs ?? []).map((tool) => checkToolScope(scopes, tool)),
  ];
}

function checkExpiry(authority: Authority, now: Date): Decision {
  const expiry = parseExpiry(authority.expiresAt);
  if (expiry === undefined) {
    return deny(AUTHORITY_GATE, 'authority.expired', `expiresAt ${JSON.stringify(authority.expiresAt)} is not an RFC 3339 time`);
  }
  // "After which the delegation no longer holds": at the instant itself it no longer holds either.
  if (expiry.getTime() <= now.getTime()) {
    return deny(AUTHORITY_GATE, 'authority.expired', `delegation from ${authority.delegator} expired at ${authority.expiresAt}`);
  }
  return allow(AUTHORITY_GATE, 'authority.expired', `delegation from ${authority.delegator} to ${authority.delegate} holds until ${authority.expiresAt}`);
}

function checkOperationScope(scopes: readonly string[], operationType: OperationType): Decision {
  const covering = scopes.find((s) => scopeCoversOperation(s, operationType));
  if (covering === undefined) {
    return deny(AUTHORITY_GATE, 'authority.scope', `delegation does not cover ${operationType}: scopes are ${listForMessage(scopes)}`);
  }
  return allow(AUTHORITY_GATE, 'authority.scope', `scope ${covering} covers ${operationType}`);
}

function checkToolScope(scopes: readonly string[], tool: string): Decision {
  const covering = scopes.find((s) => scopeCoversTool(s, tool));
  if (covering === undefined) {
    return deny(AUTHORITY_GATE, 'authority.tool-scope', `delegation does not cover tool ${tool} (needs scope tool:${tool}): scopes are ${listForMessage(scopes)}`);
  }
  return allow(AUTHORITY_GATE, 'authority.tool-scope', `scope ${covering} covers tool ${tool}`);
}
