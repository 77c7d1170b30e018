// What the egress proxy leaves behind: counters on the controller's /metrics registry, and its
// connections' outcomes in the batched audit of gateway decisions (decision-audit.ts): a
// connection is noted once it is decided (refused) or closed (allowed, with its bytes).
import { Counter, type Registry } from 'prom-client';
import type { DecisionSubject, EgressNote, GatewayDecisionAudit } from './decision-audit.ts';

export type { EgressNote } from './decision-audit.ts';
/** Who a connection spoke for. */
export type EgressSubject = DecisionSubject;

export class EgressRecorder {
  readonly #decisions: Counter<'profile' | 'decision' | 'reason'>;
  readonly #bytes: Counter<'profile' | 'direction'>;
  readonly #audit: GatewayDecisionAudit | undefined;

  constructor(o: { registry?: Registry; audit?: GatewayDecisionAudit }) {
    const registers = o.registry ? [o.registry] : [];
    this.#decisions = new Counter({ name: 'agent_machine_gateway_egress_total', help: 'Egress proxy decisions (CONNECT tunnels and forwarded requests) by profile, decision and reason.', labelNames: ['profile', 'decision', 'reason'] as const, registers });
    this.#bytes = new Counter({ name: 'agent_machine_gateway_egress_bytes_total', help: 'Bytes relayed by the egress proxy by profile and direction (up: agent to destination).', labelNames: ['profile', 'direction'] as const, registers });
    this.#audit = o.audit;
  }

  /** A decision, counted at once (allowed connections are noted for the audit when they close: see note()). */
  decided(profile: string, decision: 'allowed' | 'denied', reason: string): void {
    this.#decisions.inc({ profile: profile || '(none)', decision, reason });
  }

  /** A connection's outcome for the audit (refusals right away, allowed ones when they end). */
  note(subject: EgressSubject | undefined, n: EgressNote): void {
    if (n.bytesUp > 0) this.#bytes.inc({ profile: subject?.profile ?? '(none)', direction: 'up' }, n.bytesUp);
    if (n.bytesDown > 0) this.#bytes.inc({ profile: subject?.profile ?? '(none)', direction: 'down' }, n.bytesDown);
    // A connection that never named an execution (no or a wrong token) has no one to audit against: counted only.
    if (subject) this.#audit?.egress(subject, n);
  }
}
