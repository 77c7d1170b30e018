// What the gateway counts per execution — modelCalls, tokens, connectorCalls — held in memory
// (the hot path never waits for the API server) and written to the execution's
// status.budget.used in batches: at most one merge patch per execution per flush interval,
// touching only these three fields, so it composes with the execution reconciler's own status
// writes.
//
// Budget checks are made against the counts plus the calls in flight, so 32 concurrent calls
// against a budget of 3 model calls forward exactly 3. Tokens are only known after a call: each
// call in flight holds a token allowance (token-allowance.ts) until its usage is booked.
//
// A restarted controller starts from what status says. Other writers of the execution's status
// must keep these three fields (gatewayCounts() below); if one drops them while the execution
// runs, they come back with the next flush of new usage, and once the execution has finished
// they are written one last time (nothing else writes a finished execution's status). Re-writing
// on every drop while it runs would make the two writers chase each other.
import type { LocalAgentExecution } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { PatchStrategy } from '@kubernetes/client-node';
import type { FullBudget } from '../governance/budget.ts';
import { describeError, isConflict, isNotFound, statusCodeOf, type KubeClients } from '../operator/kube-clients.ts';
import { isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';
import type { Logger } from '../observability/logger.ts';

export const GATEWAY_DIMENSIONS = ['modelCalls', 'tokens', 'connectorCalls'] as const;
export type GatewayDimension = (typeof GATEWAY_DIMENSIONS)[number];
export type GatewayUsage = Record<GatewayDimension, number>;

interface Entry {
  uid: string;
  namespace: string;
  name: string;
  used: GatewayUsage;
  inFlight: { modelCalls: number; connectorCalls: number; tokens: number };
  /** What the last successful flush wrote. */
  flushed: GatewayUsage | undefined;
  dirty: boolean;
  terminal: boolean;
  warnedOverwrite: boolean;
}

export type Reservation =
  | {
      ok: true;
      /** Tokens neither used nor held by calls in flight. */
      tokensLeft(): number;
      /** Holds this call's token allowance until commit() or release(). */
      holdTokens(n: number): void;
      release(): void;
      commit(tokens: number): void;
    }
  | { ok: false; dimension: GatewayDimension; used: number; limit: number };

function zero(): GatewayUsage {
  return { modelCalls: 0, tokens: 0, connectorCalls: 0 };
}

function fromStatus(ex: LocalAgentExecution): GatewayUsage {
  const used = ex.status?.budget?.used ?? {};
  const n = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  return { modelCalls: n(used.modelCalls), tokens: n(used.tokens), connectorCalls: n(used.connectorCalls) };
}

function sameUsage(a: GatewayUsage | undefined, b: GatewayUsage): boolean {
  return a !== undefined && GATEWAY_DIMENSIONS.every((d) => a[d] === b[d]);
}

export interface LedgerOptions {
  clients: KubeClients;
  logger: Logger;
  /** Batch window of status writes (default 1000 ms). */
  flushIntervalMs?: number;
}

export class UsageLedger {
  readonly #clients: KubeClients;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #entries = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(opts: LedgerOptions) {
    this.#clients = opts.clients;
    this.#log = opts.logger.child({ component: 'gateway-ledger' });
    this.#intervalMs = opts.flushIntervalMs ?? 1_000;
  }

  /** Counts so far (committed, not in flight) for an execution. */
  usage(ex: LocalAgentExecution): GatewayUsage {
    return { ...this.#entry(ex).used };
  }

  /**
   * Takes one model call (and requires tokens left) or one connector call out of the budget
   * before the call is made; commit() books it, release() hands it back (the call never
   * reached the provider).
   */
  reserve(ex: LocalAgentExecution, effective: FullBudget, kind: 'modelCall' | 'connectorCall'): Reservation {
    const e = this.#entry(ex);
    if (kind === 'modelCall') {
      const limit = effective.modelCalls ?? 0;
      const taken = e.used.modelCalls + e.inFlight.modelCalls;
      if (taken + 1 > limit) return { ok: false, dimension: 'modelCalls', used: taken, limit };
      const tokenLimit = effective.tokens ?? 0;
      if (e.used.tokens + e.inFlight.tokens >= tokenLimit) return { ok: false, dimension: 'tokens', used: e.used.tokens + e.inFlight.tokens, limit: tokenLimit };
      e.inFlight.modelCalls++;
    } else {
      const limit = effective.connectorCalls ?? 0;
      const taken = e.used.connectorCalls + e.inFlight.connectorCalls;
      if (taken + 1 > limit) return { ok: false, dimension: 'connectorCalls', used: taken, limit };
      e.inFlight.connectorCalls++;
    }
    let settled = false;
    let held = 0;
    const field = kind === 'modelCall' ? 'modelCalls' : 'connectorCalls';
    const unhold = () => {
      e.inFlight.tokens -= held;
      held = 0;
    };
    return {
      ok: true,
      tokensLeft: () => (effective.tokens ?? 0) - e.used.tokens - e.inFlight.tokens,
      holdTokens: (n: number) => {
        if (settled) return;
        unhold();
        held = Math.max(0, Math.floor(n));
        e.inFlight.tokens += held;
      },
      release: () => {
        if (settled) return;
        settled = true;
        unhold();
        e.inFlight[field]--;
      },
      commit: (tokens: number) => {
        if (settled) return;
        settled = true;
        unhold();
        e.inFlight[field]--;
        e.used[field]++;
        if (tokens > 0) e.used.tokens += Math.floor(tokens);
        this.#markDirty(e);
      },
    };
  }

  /** Feed every execution informer event here: it notices finished and overwritten counts. */
  observe(ex: LocalAgentExecution): void {
    const e = this.#entries.get(ex.metadata.uid!);
    if (!e) return;
    const inStatus = fromStatus(ex);
    if (isTerminalExecutionPhase(ex.status?.phase)) e.terminal = true;
    if (!e.warnedOverwrite && !e.dirty && e.flushed !== undefined && GATEWAY_DIMENSIONS.some((d) => inStatus[d] < e.flushed![d])) {
      e.warnedOverwrite = true;
      this.#log.warn({ execution: `${e.namespace}/${e.name}` }, 'status.budget.used lost the gateway counts (another status write replaced them); they are written again with new usage and when the execution finishes');
    }
    if (e.terminal && !e.dirty && !sameUsage(inStatus, e.used)) {
      // Finished: write the final counts (again, if a last status write dropped them).
      this.#markDirty(e);
    } else if (e.terminal && !e.dirty && sameUsage(inStatus, e.used)) {
      // Finished and on record: nothing more will be counted.
      this.#entries.delete(e.uid);
    }
  }

  forget(uid: string): void {
    this.#entries.delete(uid);
  }

  /** Writes every pending count now (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#flushing = this.#flushOnce().finally(() => (this.#flushing = undefined));
    await this.#flushing;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #entry(ex: LocalAgentExecution): Entry {
    const uid = ex.metadata.uid!;
    let e = this.#entries.get(uid);
    if (!e) {
      const start = fromStatus(ex);
      e = { uid, namespace: ex.metadata.namespace!, name: ex.metadata.name!, used: start, inFlight: { modelCalls: 0, connectorCalls: 0, tokens: 0 }, flushed: start, dirty: false, terminal: false, warnedOverwrite: false };
      this.#entries.set(uid, e);
    }
    return e;
  }

  #markDirty(e: Entry): void {
    e.dirty = true;
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#intervalMs);
      this.#timer.unref();
    }
  }

  async #flushOnce(): Promise<void> {
    const dirty = [...this.#entries.values()].filter((e) => e.dirty);
    await Promise.all(
      dirty.map(async (e) => {
        e.dirty = false;
        const snapshot = { ...e.used };
        try {
          await this.#clients.request({
            method: 'PATCH',
            path: RESOURCES.LocalAgentExecution.apiPath(e.namespace, e.name, 'status'),
            query: { fieldManager: 'agent-machine-gateway' },
            // The UID makes the write fail rather than land on a new execution of the same name.
            body: { metadata: { uid: e.uid }, status: { budget: { used: snapshot } } },
            contentType: PatchStrategy.MergePatch,
            signal: AbortSignal.timeout(10_000),
          });
          e.flushed = snapshot;
        } catch (err) {
          if (isNotFound(err) || isConflict(err) || statusCodeOf(err) === 422) {
            this.#entries.delete(e.uid);
            return;
          }
          this.#log.warn({ execution: `${e.namespace}/${e.name}`, error: describeError(err) }, 'writing gateway usage to status failed; retrying at the next flush');
          this.#markDirty(e);
        }
      }),
    );
  }
}

export { zero as zeroUsage };

/**
 * The gateway's counts in a status.budget.used, for other writers of that field to carry over:
 * `used: { ...gatewayCounts(prev?.budget?.used), cpuGpuComputeSeconds, wallClockSeconds }`.
 */
export function gatewayCounts(used: Partial<Record<string, unknown>> | undefined): Partial<GatewayUsage> {
  const out: Partial<GatewayUsage> = {};
  for (const d of GATEWAY_DIMENSIONS) {
    const v = used?.[d];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) out[d] = v;
  }
  return out;
}
