// What a governed kind declares to the reconcile core: its resource, how each of its phases
// reads as a command (audit outcome, operation state and event, Event type), and when a
// decision counts as a transition worth an audit record. Per-kind data only: the core does
// the auditing, the metric, the conditions and the status write (settle.ts).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Authority, Condition, Operation } from '../../api/types.generated.ts';
import type { OperationEventType, OperationState } from '../../api/operation.ts';
import type { AuditOutcome } from '../../governance/audit-log.ts';
import type { ResourceType } from '../../operator/resource.ts';

export interface Projection {
  outcome: AuditOutcome;
  state: OperationState;
  event: OperationEventType;
  /** The Kubernetes Event is a Warning. */
  warning: boolean;
}

/** Every governed object acts under a delegation and keeps conditions and an operation. */
export type GovernedObject = KubernetesObject & {
  metadata: NonNullable<KubernetesObject['metadata']>;
  spec: { authority: Authority };
  status?: { conditions?: Condition[]; operation?: Operation; observedGeneration?: number };
};

/**
 * When a decision is audited (and its Event and denial metric recorded):
 *   - 'phase': the phase changed;
 *   - 'phase-or-reason': the phase or the Ready condition's reason changed;
 *   - 'phase-reason-or-generation': also when the spec changed since the last decision.
 */
export type AuditOn = 'phase' | 'phase-or-reason' | 'phase-reason-or-generation';

export interface GovernedKind<T extends GovernedObject, P extends string> {
  resource: ResourceType;
  /** status.phase (a grant's status.state). */
  phaseOf(obj: T): P | undefined;
  projection: Record<P, Projection>;
  /** The phase in which Ready is True. */
  readyPhase: P;
  /** The Event reason of a phase, when not the decision's reason (Active → Activated). */
  eventReason?: Partial<Record<P, string>>;
  auditOn: AuditOn;
  /** Which phases count the first denied decision in agent_machine_policy_denials_total. */
  countsDenial: (phase: P) => boolean;
  /**
   * Whether the Event is a Warning when that depends on the reason, not only the phase (a
   * Pending blocked on a missing image; a Cancelled the budget forced). undefined: the phase's.
   */
  warns?: (phase: P, reason: string) => boolean | undefined;
}
