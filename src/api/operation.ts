// The WorkspaceOperation / OperationTask projection every kind carries in status.operation
// (upstream contract: operationId, operationType, commandRef, taskId, state, events). Pure:
// reconcilers compute the next projection from the previous one.
import type { Operation, OperationEvent, OperationType } from './types.generated.ts';
import { metaTime } from '../operator/time.ts';

export type OperationState = Operation['state'];
export type OperationEventType = OperationEvent['eventType'];

/** The CRD caps the list; the oldest events give way, the first (start) is kept. */
export const MAX_OPERATION_EVENTS = 32;
const MAX_DETAILS = 1024;

const TERMINAL: ReadonlySet<OperationState> = new Set(['completed', 'failed', 'cancelled']);

export function isTerminal(state: OperationState | undefined): boolean {
  return state !== undefined && TERMINAL.has(state);
}

/** Stable identifiers derived from the object's UID, so they survive controller restarts. */
export function operationIds(uid: string, operationType: OperationType): Pick<Operation, 'operationId' | 'commandRef' | 'taskId'> {
  const verb = operationType.replace(/^agent_machine\./, '').replace(/[._]/g, '-');
  return {
    operationId: `urn:srcos:workspace-operation:${uid}`,
    commandRef: `urn:srcos:workspace-operation-command:${verb}-${uid}`,
    taskId: `urn:srcos:operation-task:${uid}`,
  };
}

export interface OperationUpdate {
  operationType: OperationType;
  state: OperationState;
  event?: { eventType: OperationEventType; details: string };
}

/**
 * The next projection: the command (operationType) may change over an object's life (apply →
 * revoke, start → cancel), the IDs stay. An event is appended only when it says something new,
 * so a reconcile that recomputes the same outcome leaves status unchanged.
 */
export function nextOperation(previous: Operation | undefined, uid: string, update: OperationUpdate, now = new Date()): Operation {
  const events = [...(previous?.events ?? [])];
  if (update.event) {
    const details = update.event.details.slice(0, MAX_DETAILS);
    const last = events[events.length - 1];
    if (!last || last.eventType !== update.event.eventType || last.details !== details) {
      events.push({ eventType: update.event.eventType, at: metaTime(now), details });
    }
  }
  while (events.length > MAX_OPERATION_EVENTS) events.splice(1, 1);
  return {
    ...operationIds(uid, update.operationType),
    operationType: update.operationType,
    state: update.state,
    events,
  };
}
