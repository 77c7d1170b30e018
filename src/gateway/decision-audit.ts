// Every gateway decision, in the audit trail, in batches: model calls, tool decisions,
// connector calls, each MCP tools/call, and egress connections. A decision is noted in memory
// (a map lookup and an increment: the hot path pays nothing more), and every few seconds (and at
// shutdown) each execution's notes become a few audit records — one per family (calls, egress)
// and decision, each listing what was decided how often: kind, target (the binding, the tool,
// host:port), reason (a refusal code). Never a path, a query string, a header, a body, a prompt
// or a token: the routes hand nothing else in.
import type { AuditLog, AuditRecord, EgressAuditItem, GatewayCallAuditItem, GatewayCallKind } from '../governance/audit-log.ts';
import { operationIds } from '../api/operation.ts';
import type { LocalAgentExecution } from '../api/types.generated.ts';
import { START } from '../reconcilers/execution-decision.ts';
import type { Logger } from '../observability/logger.ts';

/** Who a call or a connection spoke for. */
export interface DecisionSubject {
  namespace: string;
  execution: string;
  uid: string;
  delegator: string;
  delegate: string;
  profile: string;
}

export function subjectOf(ex: LocalAgentExecution): DecisionSubject {
  return { namespace: ex.metadata.namespace!, execution: ex.metadata.name!, uid: ex.metadata.uid!, delegator: ex.spec.authority.delegator, delegate: ex.spec.authority.delegate, profile: ex.spec.profileRef.name };
}

export interface EgressNote {
  host: string;
  port: number;
  decision: 'allowed' | 'denied';
  reason: string;
  bytesUp: number;
  bytesDown: number;
}

/** Items per audit record: a batch with more is split over several records. */
const ITEMS_PER_RECORD = 64;
/** Distinct items kept between flushes before they are flushed early (bounded memory). */
const MAX_PENDING_ITEMS = 10_000;

type Notes = { subject: DecisionSubject; egress: Map<string, EgressAuditItem>; calls: Map<string, GatewayCallAuditItem> };

export class GatewayDecisionAudit {
  readonly #audit: Pick<AuditLog, 'append'>;
  readonly #log: Logger;
  /** uid → subject and its items. */
  #pending = new Map<string, Notes>();
  #size = 0;
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();

  constructor(o: { audit: Pick<AuditLog, 'append'>; logger: Logger; flushIntervalMs?: number }) {
    this.#audit = o.audit;
    this.#log = o.logger;
    this.#timer = setInterval(() => void this.flush(), o.flushIntervalMs ?? 5_000);
    this.#timer.unref();
  }

  /** A model, tool, connector or MCP tools/call decision. */
  call(subject: DecisionSubject, kind: GatewayCallKind, target: string, decision: 'allowed' | 'denied', reason: string): void {
    const notes = this.#notes(subject);
    const key = `${kind}|${target}|${decision}|${reason}`;
    const item = notes.calls.get(key);
    if (item) item.calls++;
    else {
      notes.calls.set(key, { kind, target, decision, reason, calls: 1 });
      this.#grew();
    }
  }

  /** An egress connection's outcome (refusals right away, allowed ones when they end). */
  egress(subject: DecisionSubject, n: EgressNote): void {
    const notes = this.#notes(subject);
    const key = `${n.host}|${n.port}|${n.decision}|${n.reason}`;
    const item = notes.egress.get(key);
    if (item) {
      item.connections++;
      item.bytesUp += n.bytesUp;
      item.bytesDown += n.bytesDown;
    } else {
      notes.egress.set(key, { host: n.host, port: n.port, decision: n.decision, reason: n.reason, connections: 1, bytesUp: n.bytesUp, bytesDown: n.bytesDown });
      this.#grew();
    }
  }

  /** Writes what accumulated; resolves once it is in the audit trail (or its failure was logged). */
  flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    this.#size = 0;
    if (batch.size === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      for (const notes of batch.values()) for (const record of auditRecordsOf(notes)) await this.#append(notes.subject, record);
    });
    return this.#flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  #notes(subject: DecisionSubject): Notes {
    let notes = this.#pending.get(subject.uid);
    if (!notes) {
      notes = { subject, egress: new Map(), calls: new Map() };
      this.#pending.set(subject.uid, notes);
    }
    return notes;
  }

  #grew(): void {
    if (++this.#size > MAX_PENDING_ITEMS) void this.flush();
  }

  async #append(subject: DecisionSubject, record: AuditRecord): Promise<void> {
    try {
      await this.#audit.append(record);
    } catch (err) {
      this.#log.error({ execution: `${subject.namespace}/${subject.execution}`, error: err instanceof Error ? err.message : String(err) }, 'could not audit gateway decisions');
    }
  }
}

/** The audit records of one execution's notes: per family and decision, at most 64 items each. */
export function auditRecordsOf(notes: Notes): AuditRecord[] {
  const { subject } = notes;
  const base: Omit<AuditRecord, 'outcome' | 'reason'> = {
    operationType: START,
    commandRef: operationIds(subject.uid, START).commandRef,
    object: { kind: 'LocalAgentExecution', namespace: subject.namespace, name: subject.execution, uid: subject.uid },
    actor: subject.delegator,
    delegate: subject.delegate,
  };
  const out: AuditRecord[] = [];
  for (const decision of ['allowed', 'denied'] as const) {
    const calls = [...notes.calls.values()].filter((i) => i.decision === decision);
    for (let i = 0; i < calls.length; i += ITEMS_PER_RECORD) {
      const part = calls.slice(i, i + ITEMS_PER_RECORD);
      const n = part.reduce((s, x) => s + x.calls, 0);
      out.push({ ...base, outcome: decision, reason: `gateway ${decision}: ${n} call${n === 1 ? '' : 's'} (profile ${subject.profile})`, calls: part });
    }
    const egress = [...notes.egress.values()].filter((i) => i.decision === decision);
    for (let i = 0; i < egress.length; i += ITEMS_PER_RECORD) {
      const part = egress.slice(i, i + ITEMS_PER_RECORD);
      const connections = part.reduce((s, x) => s + x.connections, 0);
      out.push({ ...base, outcome: decision, reason: `egress ${decision}: ${connections} connection${connections === 1 ? '' : 's'} to ${part.length} destination${part.length === 1 ? '' : 's'} (profile ${subject.profile})`, egress: part });
    }
  }
  return out;
}
