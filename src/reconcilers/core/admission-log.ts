// The warn line of an admission decision that denies or holds: one per transition (settle.ts
// logs it where it audits), searchable by kind/namespace/name — what a user has in hand —
// not only by uid. Fields only, no message text: messages may quote what someone wrote
// (an endpoint, an image, a container's output), and a log line is no place for it.
import type { Decision } from '../../governance/decision.ts';
import { firstDenial } from '../../governance/decision.ts';

export interface AdmissionLogInput {
  kind: string;
  namespace?: string;
  name?: string;
  uid?: string;
  phase: string;
  reason: string;
  /** The audit outcome of the phase (denied, queued, allowed, started, ...). */
  outcome: string;
  /** Waiting for something that will come (a profile not reconciled yet). */
  waiting: boolean;
  decisions: readonly Decision[];
}

export interface AdmissionLogLine {
  fields: Record<string, string>;
  msg: string;
}

// Phases in which an object waits before it is admitted (or before it runs).
const HELD_PHASES: ReadonlySet<string> = new Set(['Pending', 'Queued']);

/** The line to log at warn, or undefined when the decision neither denies nor holds. */
export function admissionLogLine(i: AdmissionLogInput): AdmissionLogLine | undefined {
  const denied = i.outcome === 'denied' && !HELD_PHASES.has(i.phase) && !i.waiting;
  const held = !denied && (i.waiting || HELD_PHASES.has(i.phase));
  if (!denied && !held) return undefined;
  const gate = firstDenial(i.decisions);
  const fields: Record<string, string> = {
    kind: i.kind,
    ...(i.namespace ? { namespace: i.namespace } : {}),
    name: i.name ?? '',
    ...(i.uid ? { uid: i.uid } : {}),
    phase: i.phase,
    reason: i.reason,
    ...(gate ? { gate: gate.gate, rule: gate.rule } : {}),
  };
  const ref = `${i.kind} ${i.namespace ? `${i.namespace}/` : ''}${i.name ?? ''}`;
  return { fields, msg: denied ? `admission denied ${ref}: ${i.reason}` : `admission held ${ref}: ${i.reason}` };
}
