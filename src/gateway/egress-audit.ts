// What the egress proxy leaves behind: counters on the controller's /metrics registry, and
// audit records in batches. A connection is noted once it is decided (refused) or closed
// (allowed, with its bytes); every few seconds (and at shutdown) the notes of each execution
// become one audit record per outcome in the hash-chained log, each listing its destinations:
// host, port, decision, reason, connections, bytes up and down. Never a path, a query string,
// a header or a token: the proxy hands nothing else in.
import { Counter, type Registry } from 'prom-client';
import type { AuditLog, EgressAuditItem } from '../governance/audit-log.ts';
import { operationIds } from '../api/operation.ts';
import { START } from '../reconcilers/execution-decision.ts';
import type { Logger } from '../observability/logger.ts';

/** Who a connection spoke for. */
export interface EgressSubject {
  namespace: string;
  execution: string;
  uid: string;
  delegator: string;
  delegate: string;
  profile: string;
}

export interface EgressNote {
  host: string;
  port: number;
  decision: 'allowed' | 'denied';
  reason: string;
  bytesUp: number;
  bytesDown: number;
}

/** Destinations per audit record: a batch with more is split over several records. */
const ITEMS_PER_RECORD = 64;
/** Notes kept between flushes before the oldest execution's are flushed early. */
const MAX_PENDING_KEYS = 10_000;

export class EgressRecorder {
  readonly #decisions: Counter<'profile' | 'decision' | 'reason'>;
  readonly #bytes: Counter<'profile' | 'direction'>;
  readonly #audit: Pick<AuditLog, 'append'> | undefined;
  readonly #log: Logger;
  /** uid → subject and its destinations (key host|port|decision|reason). */
  #pending = new Map<string, { subject: EgressSubject; items: Map<string, EgressAuditItem> }>();
  #size = 0;
  readonly #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(o: { registry?: Registry; audit?: Pick<AuditLog, 'append'>; logger: Logger; flushIntervalMs?: number }) {
    const registers = o.registry ? [o.registry] : [];
    this.#decisions = new Counter({ name: 'agent_machine_gateway_egress_total', help: 'Egress proxy decisions (CONNECT tunnels and forwarded requests) by profile, decision and reason.', labelNames: ['profile', 'decision', 'reason'] as const, registers });
    this.#bytes = new Counter({ name: 'agent_machine_gateway_egress_bytes_total', help: 'Bytes relayed by the egress proxy by profile and direction (up: agent to destination).', labelNames: ['profile', 'direction'] as const, registers });
    this.#audit = o.audit;
    this.#log = o.logger;
    if (o.audit) {
      this.#timer = setInterval(() => void this.flush(), o.flushIntervalMs ?? 5_000);
      this.#timer.unref();
    }
  }

  /** A decision, counted at once (allowed connections are noted for the audit when they close: see closed()). */
  decided(profile: string, decision: 'allowed' | 'denied', reason: string): void {
    this.#decisions.inc({ profile: profile || '(none)', decision, reason });
  }

  /** A connection's outcome for the audit (refusals right away, allowed ones when they end). */
  note(subject: EgressSubject | undefined, n: EgressNote): void {
    if (n.bytesUp > 0) this.#bytes.inc({ profile: subject?.profile ?? '(none)', direction: 'up' }, n.bytesUp);
    if (n.bytesDown > 0) this.#bytes.inc({ profile: subject?.profile ?? '(none)', direction: 'down' }, n.bytesDown);
    // A connection that never named an execution (no or a wrong token) has no one to audit against: counted only.
    if (!subject || !this.#audit) return;
    let entry = this.#pending.get(subject.uid);
    if (!entry) {
      entry = { subject, items: new Map() };
      this.#pending.set(subject.uid, entry);
    }
    const key = `${n.host}|${n.port}|${n.decision}|${n.reason}`;
    const item = entry.items.get(key);
    if (item) {
      item.connections++;
      item.bytesUp += n.bytesUp;
      item.bytesDown += n.bytesDown;
    } else {
      entry.items.set(key, { host: n.host, port: n.port, decision: n.decision, reason: n.reason, connections: 1, bytesUp: n.bytesUp, bytesDown: n.bytesDown });
      if (++this.#size > MAX_PENDING_KEYS) void this.flush();
    }
  }

  /** Writes what accumulated; resolves once it is in the audit log (or its failure was logged). */
  flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    this.#size = 0;
    if (batch.size === 0 || !this.#audit) return this.#flushing;
    const audit = this.#audit;
    this.#flushing = this.#flushing.then(async () => {
      for (const { subject, items } of batch.values()) {
        for (const decision of ['allowed', 'denied'] as const) {
          const list = [...items.values()].filter((i) => i.decision === decision);
          for (let i = 0; i < list.length; i += ITEMS_PER_RECORD) {
            const part = list.slice(i, i + ITEMS_PER_RECORD);
            const connections = part.reduce((s, x) => s + x.connections, 0);
            try {
              await audit.append({
                operationType: START,
                commandRef: operationIds(subject.uid, START).commandRef,
                object: { kind: 'LocalAgentExecution', namespace: subject.namespace, name: subject.execution, uid: subject.uid },
                actor: subject.delegator,
                delegate: subject.delegate,
                outcome: decision,
                reason: `egress ${decision}: ${connections} connection${connections === 1 ? '' : 's'} to ${part.length} destination${part.length === 1 ? '' : 's'} (profile ${subject.profile})`,
                egress: part,
              });
            } catch (err) {
              this.#log.error({ execution: `${subject.namespace}/${subject.execution}`, error: err instanceof Error ? err.message : String(err) }, 'could not audit egress records');
            }
          }
        }
      }
    });
    return this.#flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
