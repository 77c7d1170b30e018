// How the phases of something that runs (a container record, an execution) read as a command:
// one table for both, each kind adding the phases only it has (Creating; Queued, Retrying).
import type { Projection } from './governed-kind.ts';

export const RUN_PROJECTION = {
  Pending: { state: 'queued', event: 'progress', outcome: 'queued', warning: false },
  Running: { state: 'running', event: 'start', outcome: 'started', warning: false },
  Succeeded: { state: 'completed', event: 'complete', outcome: 'completed', warning: false },
  Failed: { state: 'failed', event: 'failure', outcome: 'failed', warning: true },
  Cancelled: { state: 'cancelled', event: 'cancel', outcome: 'cancelled', warning: false },
  Denied: { state: 'failed', event: 'failure', outcome: 'denied', warning: true },
} as const satisfies Record<string, Projection>;

/**
 * Pending for these cannot end without someone's change: load the image, create the Secret,
 * start the engine or the registry — or, under the kubernetes runtime, what the kubelet and the
 * scheduler report for a Pod that cannot start (a bad image, a bad container config, no node).
 */
export const BLOCKING_REASONS: ReadonlySet<string> = new Set([
  'ImageNotPresent',
  'SecretNotFound',
  'RuntimeUnavailable',
  'OutputsNotStored',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'Unschedulable',
]);

/**
 * Real failures read as Warning Events whatever the phase: a run blocked on something someone
 * must fix (a record Pending, or its execution Running, for a BLOCKING_REASONS reason), or stopped by its deadline, its budget, a deleted profile or lost authority rather
 * than on request (reason Cancelled, or ContainerCancelled for an execution whose container
 * was cancelled on request).
 */
export function runWarns(phase: string, reason: string): boolean | undefined {
  if ((phase === 'Pending' || phase === 'Running') && BLOCKING_REASONS.has(reason)) return true;
  if (phase === 'Cancelled') return reason !== 'Cancelled' && reason !== 'ContainerCancelled';
  return undefined;
}
