// What `agent-machine cancel` and `revoke` do to an object, decided from the object alone (pure).
//
// Both only ask, through the spec, for what the reconcilers honour: spec.cancel on
// LocalAgentExecution and ContainerExecutionRecord (execution-reconciler.ts,
// container-state.ts), spec.revoked with spec.revocationReason on ToolGrantRecord
// (tool-grant-state.ts; a CRD rule requires the reason). The controller does the stopping and
// the auditing; the CLI never touches containers or status.

export const TERMINAL_PHASES: readonly string[] = ['Succeeded', 'Failed', 'Cancelled', 'Denied'];

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export interface Cancellable {
  metadata: { name?: string; generation?: number };
  spec: { cancel?: boolean };
  status?: { phase?: string; observedGeneration?: number; conditions?: Condition[] };
}

export interface Revocable {
  metadata: { name?: string; generation?: number };
  spec: { revoked?: boolean; revocationReason?: string };
  status?: { state?: string; observedGeneration?: number; conditions?: Condition[] };
}

export type Plan<P> = { patch: P; note: string } | { patch?: undefined; note: string };

export function planCancel(obj: Cancellable): Plan<{ spec: { cancel: true } }> {
  const phase = obj.status?.phase;
  if (phase !== undefined && TERMINAL_PHASES.includes(phase)) return { note: `already ${phase}: nothing to cancel` };
  if (obj.spec.cancel === true) return { note: 'cancel already requested' };
  return { patch: { spec: { cancel: true } }, note: 'cancel requested' };
}

/** Finished, whatever the outcome: a run that ended on its own just before the cancel counts too. */
export function cancelSettled(obj: Cancellable): boolean {
  const phase = obj.status?.phase;
  return phase !== undefined && TERMINAL_PHASES.includes(phase);
}

export const DEFAULT_REVOCATION_REASON = 'revoked with agent-machine revoke';

export function planRevoke(grant: Revocable, reason: string | undefined): Plan<{ spec: { revoked: true; revocationReason: string } }> {
  if (grant.spec.revoked === true) {
    const why = grant.spec.revocationReason ? ` (${grant.spec.revocationReason})` : '';
    return { note: `already revoked${why}${reason !== undefined && reason !== grant.spec.revocationReason ? '; the reason is not changed' : ''}` };
  }
  return { patch: { spec: { revoked: true, revocationReason: reason ?? DEFAULT_REVOCATION_REASON } }, note: 'revoked' };
}

/** The controller has seen the revocation: state Revoked for this generation of the spec. */
export function revokeSettled(grant: Revocable, generation: number | undefined): boolean {
  if (grant.status?.state !== 'Revoked') return false;
  const observed = grant.status.observedGeneration;
  return generation === undefined || observed === undefined || observed >= generation;
}

/** "Cancelled (Cancelled: cancelled; every container stopped)" from the phase/state and the Ready condition. */
export function describeOutcome(word: string | undefined, conditions: Condition[] | undefined): string {
  const ready = conditions?.find((c) => c.type === 'Ready');
  const detail = ready && (ready.reason || ready.message) ? ` (${[ready.reason, ready.message].filter(Boolean).join(': ')})` : '';
  return `${word ?? 'unknown'}${detail}`;
}

/** 90, 90s, 2m, 1h: kubectl wait --timeout style; seconds. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const seconds = unit === 'ms' ? n / 1000 : unit === 's' ? n : unit === 'm' ? n * 60 : n * 3600;
  return seconds > 0 ? seconds : undefined;
}
