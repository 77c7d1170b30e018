// How long the gateway's remembered prompt texts (gateway/prompt-memory.ts) live: until the
// execution is deleted, or has finished and so has every container record it owns. A record's
// log tail is read and redacted when the record finishes, which for a cancelled execution is
// after the execution itself is Cancelled: dropping at the execution's end would let that log
// tail through.
import type { ContainerExecutionRecord, LocalAgentExecution } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import type { PromptMemory } from '../gateway/prompt-memory.ts';
import { isTerminalContainerPhase } from './container-state.ts';
import { isTerminalExecutionPhase } from './execution-state.ts';
import { BY_OWNER_UID, BY_UID, indexed } from './indexes.ts';

/**
 * The execution a record belongs to, or an execution itself (its uid), for prompt redaction.
 * (A standalone record gives its own uid, under which no prompt is ever remembered.)
 */
export function executionUidOf(obj: { metadata?: { uid?: string; ownerReferences?: Array<{ kind: string; uid: string }> } }): string | undefined {
  return obj.metadata?.ownerReferences?.find((o) => o.kind === 'LocalAgentExecution')?.uid ?? obj.metadata?.uid;
}

/** Pure: whether an execution's prompts may go (it is done and so are its records). */
export function promptsDone(execution: LocalAgentExecution | undefined, records: readonly ContainerExecutionRecord[]): boolean {
  if (!execution) return true;
  return isTerminalExecutionPhase(execution.status?.phase) && records.every((r) => isTerminalContainerPhase(r.status?.phase));
}

export function followPromptLifetime(prompts: PromptMemory, executions: Informer<LocalAgentExecution>, containers: Informer<ContainerExecutionRecord>): void {
  const recordsOf = indexed(containers, BY_OWNER_UID);
  const executionWithUid = indexed(executions, BY_UID);
  const check = (uid: string | undefined) => {
    if (uid === undefined) return;
    if (promptsDone(executionWithUid(uid)[0], recordsOf(uid))) prompts.forget(uid);
  };
  executions.on({ update: (e) => check(e.metadata.uid), delete: (e) => prompts.forget(e.metadata.uid!) });
  containers.on({ update: (r) => check(executionUidOf(r)), delete: (r) => check(executionUidOf(r)) });
}
