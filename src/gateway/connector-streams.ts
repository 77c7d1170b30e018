// The connector answers still streaming (an MCP server's SSE stream, a long download), each
// ended as soon as the authority it was opened under is gone: its grant revoked, expired,
// deleted or no longer Active, or its execution finished, deleted or its delegation expired.
// Watch events of grants and executions trigger a check at once (revocation reaches the agent
// within the informer's latency); a sweep every SWEEP_MS while streams are open catches expiry,
// which no event announces.
import type { LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import { parseExpiry } from '../governance/authority.ts';
import { grantInService } from '../governance/authority-loss.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import type { Informer } from '../operator/informer.ts';
import { objectKey } from '../operator/resource.ts';
import { isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';

const SWEEP_MS = 250;

export interface OpenStream {
  grantKey: string;
  grantUid: string;
  executionKey: string;
  executionUid: string;
  /** Ends the stream (both ways); called at most once. */
  close(reason: string): void;
}

/** Why a stream may no longer run, or undefined while its grant and execution still serve it. Pure. */
export function streamEndReason(grant: ToolGrantRecord | undefined, grantUid: string, ex: LocalAgentExecution | undefined, executionUid: string, now: Date): string | undefined {
  if (!grant || grant.metadata.uid !== grantUid) return 'its grant was deleted';
  if (!grantInService(grant, now)) return `its grant ${grant.metadata.name} is ${grant.spec.revoked ? 'revoked' : isBeingDeleted(grant) ? 'being deleted' : (grant.status?.state ?? 'not Active')}${grantExpired(grant, now) ? ' (expired)' : ''}`;
  if (!ex || ex.metadata.uid !== executionUid) return 'its execution was deleted';
  if (isBeingDeleted(ex) || isTerminalExecutionPhase(ex.status?.phase)) return `its execution has finished (${ex.status?.phase ?? 'deleted'})`;
  const expiry = parseExpiry(ex.spec.authority?.expiresAt);
  if (!expiry || expiry.getTime() <= now.getTime()) return "its execution's delegation expired";
  return undefined;
}

function grantExpired(grant: ToolGrantRecord, now: Date): boolean {
  const expiry = parseExpiry(grant.spec.authority?.expiresAt);
  return !expiry || expiry.getTime() <= now.getTime();
}

export class OpenStreams {
  readonly #grants: Informer<ToolGrantRecord>;
  readonly #executions: Informer<LocalAgentExecution>;
  readonly #clock: () => Date;
  readonly #open = new Set<OpenStream>();
  readonly #unsubscribe: Array<() => void>;
  #timer: NodeJS.Timeout | undefined;

  constructor(grants: Informer<ToolGrantRecord>, executions: Informer<LocalAgentExecution>, clock: () => Date) {
    this.#grants = grants;
    this.#executions = executions;
    this.#clock = clock;
    const onGrant = (g: ToolGrantRecord) => this.#check((s) => s.grantKey === objectKey(g));
    const onExecution = (e: LocalAgentExecution) => this.#check((s) => s.executionKey === objectKey(e));
    this.#unsubscribe = [grants.on({ update: onGrant, delete: onGrant }), executions.on({ update: onExecution, delete: onExecution })];
  }

  get size(): number {
    return this.#open.size;
  }

  /** Tracks a stream until the returned function is called (it ended) or its authority goes. */
  add(stream: OpenStream): () => void {
    this.#open.add(stream);
    // The sweep outlives the stream that started it: answers come and go many times a second,
    // and a timer set and cleared per call costs more than a sweep over nothing. A sweep that
    // finds nothing open stops it.
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#sweep(), SWEEP_MS);
      this.#timer.unref();
    }
    return () => void this.#open.delete(stream);
  }

  /** Ends every stream (shutdown). */
  closeAll(reason: string): void {
    for (const s of [...this.#open]) {
      this.#remove(s);
      s.close(reason);
    }
  }

  stop(): void {
    this.closeAll('the gateway is shutting down');
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const u of this.#unsubscribe) u();
  }

  #remove(stream: OpenStream): void {
    this.#open.delete(stream);
  }

  #sweep(): void {
    if (this.#open.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    this.#check(() => true);
  }

  #check(which: (s: OpenStream) => boolean): void {
    const now = this.#clock();
    for (const s of [...this.#open]) {
      if (!which(s)) continue;
      const why = streamEndReason(this.#grants.get(s.grantKey), s.grantUid, this.#executions.get(s.executionKey), s.executionUid, now);
      if (why === undefined) continue;
      this.#remove(s);
      s.close(why);
    }
  }
}
