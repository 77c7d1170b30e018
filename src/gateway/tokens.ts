// Per-execution gateway tokens. An execution that names a model provider (or tools) gets one
// bearer token, minted here and kept in a Secret the execution owns:
//
//   <execution>-gateway-token   type agentmachine.sourceos.dev/gateway-token
//     labels: gateway-token=true, execution=<name>, execution-uid=<uid>
//     data.token: a token (token-format.ts)
//
// The token is injected into the execution's containers (OPENAI_API_KEY) and accepted by the
// gateway only while the execution exists, has the same UID and is not finished; the Secret is
// deleted when the execution finishes or goes away (no garbage collector is assumed).
//
// The gateway never compares tokens byte by byte: it indexes the SHA-256 of every token it knows
// (from the Secrets informer, label-selected) and looks the hash of the presented one up.
// Token values never reach a log, an event or a status.
import { createHash, hash, randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { LocalAgentExecution } from '../api/types.generated.ts';
import { API_VERSION } from '../api/group.ts';
import { defineResource, objectKey } from '../operator/resource.ts';
import { isConflict, isNotFound, type KubeClients } from '../operator/kube-clients.ts';
import type { Informer } from '../operator/informer.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { holdsSlot, isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';
import type { NetworkMode } from '../runtimes/container-runtime.ts';
import { formatToken, hasTokenShape, isToken, TOKEN_BYTES } from './token-format.ts';

export const TOKEN_SECRET_TYPE = 'agentmachine.sourceos.dev/gateway-token';
export const TOKEN_LABEL = 'agentmachine.sourceos.dev/gateway-token';
export const TOKEN_EXECUTION_LABEL = 'agentmachine.sourceos.dev/execution';
export const TOKEN_EXECUTION_UID_LABEL = 'agentmachine.sourceos.dev/execution-uid';
/** What the Secrets informer selects. */
export const TOKEN_SELECTOR = `${TOKEN_LABEL}=true`;
const TOKEN_KEY = 'token';

export const SECRETS = defineResource({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true });

export function mintToken(): string {
  return formatToken(randomBytes(TOKEN_BYTES));
}

export function hashToken(token: string): string {
  // The one-shot form: a third of createHash's cost, and the gateway hashes on every call.
  return hash('sha256', token, 'base64url');
}

/** `<execution>-gateway-token`, shortened with a hash when the execution name is long. */
export function tokenSecretName(execution: string): string {
  const name = `${execution}-gateway-token`;
  if (name.length <= 253) return name;
  return `${execution.slice(0, 200)}-${createHash('sha256').update(execution).digest('hex').slice(0, 8)}-gateway-token`;
}

/**
 * Whether an execution gets a token: it names a model provider or tools, or its containers'
 * network mode (when known) lets the egress proxy take them somewhere (allowlist, open). In
 * none and gateway-only the proxy refuses everything, so an execution without a model or tools
 * has no use for the gateway there.
 */
export function needsToken(ex: LocalAgentExecution, networkMode?: NetworkMode): boolean {
  return ex.spec.modelProviderRef !== undefined || (ex.spec.tools?.length ?? 0) > 0 || networkMode === 'allowlist' || networkMode === 'open';
}

/**
 * What the token controller does for an execution. A token is a credential: it exists only for
 * an execution that was admitted and runs (holds a slot). One that is Pending or Queued, or
 * waits for its profile, has nothing to speak for yet (the gateway would refuse the token
 * anyway); its containers' start mints the token (envFor) once it runs.
 */
export function tokenAction(ex: LocalAgentExecution, networkMode?: NetworkMode): 'ensure' | 'revoke' | 'wait' {
  if (isBeingDeleted(ex) || isTerminalExecutionPhase(ex.status?.phase) || !needsToken(ex, networkMode)) return 'revoke';
  return holdsSlot(ex.status?.phase) ? 'ensure' : 'wait';
}

export function tokenSecretFor(ex: LocalAgentExecution, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: TOKEN_SECRET_TYPE,
    metadata: {
      name: tokenSecretName(ex.metadata.name!),
      namespace: ex.metadata.namespace!,
      labels: { [TOKEN_LABEL]: 'true', [TOKEN_EXECUTION_LABEL]: ex.metadata.name!, [TOKEN_EXECUTION_UID_LABEL]: ex.metadata.uid! },
      // blockOwnerDeletion needs finalizer rights on the owner; a plain owner reference is enough
      // for a garbage collector, and the gateway deletes the Secret itself anyway.
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'LocalAgentExecution', name: ex.metadata.name!, uid: ex.metadata.uid!, controller: true }],
    },
    data: { [TOKEN_KEY]: Buffer.from(token).toString('base64') },
  };
}

/** Who a token speaks for. */
export interface TokenIdentity {
  namespace: string;
  execution: string;
  executionUid: string;
}

function identityOf(secret: V1Secret): { identity: TokenIdentity; token: string } | undefined {
  const labels = secret.metadata?.labels ?? {};
  const encoded = secret.data?.[TOKEN_KEY];
  const execution = labels[TOKEN_EXECUTION_LABEL];
  const executionUid = labels[TOKEN_EXECUTION_UID_LABEL];
  if (!encoded || !execution || !executionUid || !secret.metadata?.namespace) return undefined;
  const token = Buffer.from(encoded, 'base64').toString('utf8');
  if (!isToken(token)) return undefined;
  return { identity: { namespace: secret.metadata.namespace, execution, executionUid }, token };
}

/**
 * Token → execution, from the token Secrets informer plus the tokens this process just minted
 * (usable at once, before their watch event arrives). Deleting a Secret revokes its token.
 */
export class TokenStore {
  readonly #clients: KubeClients;
  readonly #secrets: Informer<V1Secret>;
  readonly #byHash = new Map<string, TokenIdentity>();
  /** Recently revoked tokens (bounded), so a late caller learns its execution finished. */
  readonly #revoked = new Map<string, TokenIdentity>();
  /** secret key (ns/name) → hash, to unindex on delete or replacement. */
  readonly #hashBySecret = new Map<string, string>();
  /** In-flight mints per secret key, so concurrent callers share one Secret. */
  readonly #minting = new Map<string, Promise<string>>();

  constructor(clients: KubeClients, secrets: Informer<V1Secret>) {
    this.#clients = clients;
    this.#secrets = secrets;
    secrets.on({
      add: (s) => this.#index(s),
      update: (s) => this.#index(s),
      delete: (s) => this.#unindex(objectKey(s)),
    });
  }

  /** The execution a presented token speaks for, or undefined. */
  resolve(token: string): TokenIdentity | undefined {
    if (!hasTokenShape(token)) return undefined;
    return this.#byHash.get(hashToken(token));
  }

  /** Who a revoked token spoke for, if it was revoked recently (never grants anything). */
  revokedIdentity(token: string): TokenIdentity | undefined {
    return this.#revoked.get(hashToken(token));
  }

  /** The execution's token: the one in its Secret, or a new one (Secret created). */
  ensure(ex: LocalAgentExecution): Promise<string> {
    const key = `${ex.metadata.namespace}/${tokenSecretName(ex.metadata.name!)}`;
    const cached = this.#secrets.get(key);
    const found = cached ? identityOf(cached) : undefined;
    if (found && found.identity.executionUid === ex.metadata.uid) return Promise.resolve(found.token);
    let p = this.#minting.get(key);
    if (!p) {
      p = this.#mint(ex).finally(() => this.#minting.delete(key));
      this.#minting.set(key, p);
    }
    return p;
  }

  /** Deletes the execution's token Secret (if it belongs to that execution UID, when given). */
  async revoke(namespace: string, execution: string, executionUid?: string): Promise<void> {
    const name = tokenSecretName(execution);
    const key = `${namespace}/${name}`;
    const cached = this.#secrets.get(key);
    const cachedUid = cached?.metadata?.labels?.[TOKEN_EXECUTION_UID_LABEL];
    if (executionUid !== undefined && cachedUid !== undefined && cachedUid !== executionUid) return;
    const mintedHere = this.#hashBySecret.has(key);
    this.#unindex(key);
    // Not in the cache and not minted by this process: there is nothing to delete.
    if (!cached && !mintedHere) return;
    try {
      await this.#clients.request({
        method: 'DELETE',
        path: SECRETS.apiPath(namespace, name),
        ...(cached?.metadata?.uid ? { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: cached.metadata.uid } } } : {}),
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /** Secret keys (ns/name) of every token Secret in the cache. */
  secretKeys(): string[] {
    return this.#secrets.keys();
  }

  async #mint(ex: LocalAgentExecution): Promise<string> {
    const ns = ex.metadata.namespace!;
    const name = tokenSecretName(ex.metadata.name!);
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = mintToken();
      try {
        const created = await this.#clients.request<V1Secret>({ method: 'POST', path: SECRETS.apiPath(ns), body: tokenSecretFor(ex, token) });
        this.#index(created);
        return token;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      // It exists: ours (created by an earlier reconcile or another caller), or a leftover of an
      // earlier execution with the same name, which must not hand its token to this one.
      let existing: V1Secret | undefined;
      try {
        existing = await this.#clients.request<V1Secret>({ method: 'GET', path: SECRETS.apiPath(ns, name) });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        continue;
      }
      const found = identityOf(existing);
      if (found && found.identity.executionUid === ex.metadata.uid) {
        this.#index(existing);
        return found.token;
      }
      try {
        await this.#clients.request({ method: 'DELETE', path: SECRETS.apiPath(ns, name), body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: existing.metadata!.uid } } });
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
      this.#unindex(`${ns}/${name}`);
    }
    throw new Error(`could not create gateway token Secret ${ns}/${name}: it keeps being replaced`);
  }

  #index(secret: V1Secret): void {
    const key = objectKey(secret);
    const found = identityOf(secret);
    const previous = this.#hashBySecret.get(key);
    if (!found) {
      if (previous) this.#unindex(key);
      return;
    }
    const hash = hashToken(found.token);
    if (previous && previous !== hash) this.#byHash.delete(previous);
    this.#hashBySecret.set(key, hash);
    this.#byHash.set(hash, found.identity);
  }

  #unindex(key: string): void {
    const hash = this.#hashBySecret.get(key);
    if (hash) {
      const identity = this.#byHash.get(hash);
      this.#byHash.delete(hash);
      if (identity) {
        this.#revoked.set(hash, identity);
        if (this.#revoked.size > 10_000) this.#revoked.delete(this.#revoked.keys().next().value!);
      }
    }
    this.#hashBySecret.delete(key);
  }
}
