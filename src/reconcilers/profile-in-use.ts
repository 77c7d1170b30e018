// What holds a profile's deletion, pure. A profile in use is not deleted from under what runs
// on it (as Kueue holds a ClusterQueue with admitted workloads): its finalizer stays while an
// execution is running (holds a slot: Running, Retrying) or a grant is Active under it. While
// it is being deleted nothing new is admitted under it (executions, grants and bindings wait
// Pending, ProfileDeleting); what already runs keeps its profile until it ends, is cancelled, revoked
// or deleted. Then the profile goes, and anything still naming it fails closed
// (ProfileNotFound), as for a profile that never existed.
import type { LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import { holdsSlot } from './execution-state.ts';

export interface ProfileHolder {
  kind: 'LocalAgentExecution' | 'ToolGrantRecord';
  namespace: string;
  name: string;
}

/** The objects under profileName that keep it, sorted (a stable message, no status churn). */
export function profileHolders(profileName: string, executions: readonly LocalAgentExecution[], grants: readonly ToolGrantRecord[]): ProfileHolder[] {
  const holders: ProfileHolder[] = [
    ...executions.filter((e) => e.spec.profileRef.name === profileName && holdsSlot(e.status?.phase)).map((e) => ({ kind: 'LocalAgentExecution' as const, namespace: e.metadata.namespace ?? '', name: e.metadata.name ?? '' })),
    ...grants.filter((g) => g.spec.profileRef.name === profileName && g.status?.state === 'Active' && !g.spec.revoked).map((g) => ({ kind: 'ToolGrantRecord' as const, namespace: g.metadata.namespace ?? '', name: g.metadata.name ?? '' })),
  ];
  return holders.sort((a, b) => `${a.kind}/${a.namespace}/${a.name}`.localeCompare(`${b.kind}/${b.namespace}/${b.name}`));
}

const LISTED = 5;

/** "deletion held: in use by LocalAgentExecution team-a/run-1, ToolGrantRecord team-a/gh (and 3 more); ..." */
export function deletionHeldMessage(holders: readonly ProfileHolder[]): string {
  const listed = holders.slice(0, LISTED).map((h) => `${h.kind} ${h.namespace}/${h.name}`).join(', ');
  const more = holders.length > LISTED ? ` (and ${holders.length - LISTED} more)` : '';
  return `deletion held: in use by ${listed}${more}; the profile goes once they finish, are cancelled, revoked or deleted, and nothing new is admitted under it meanwhile`;
}
