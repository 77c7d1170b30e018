// The artifact records of a ContainerExecutionRecord: its status.outputs as the operation
// contract states them. An output is durable workspace state only when the artifactAccess gate
// admitted it; a stored output it did not admit is provisional, one never stored is refused.
// Each record carries the decision (rule, reason) so the contract says why, not just what.
import type { ContainerExecutionRecord } from './types.generated.ts';

export type ArtifactState = 'admitted' | 'provisional' | 'refused';

export interface ArtifactRecord {
  name: string;
  state: ArtifactState;
  digest?: string;
  size?: number;
  mediaType?: string;
  reference?: string;
  decision: { gate: 'artifactAccess'; admitted: boolean; reason: string; rule?: string; message?: string; reviewedBy?: string; reviewedAt?: string };
}

type RecordOutput = NonNullable<NonNullable<ContainerExecutionRecord['status']>['outputs']>[number];

export function artifactState(o: Pick<RecordOutput, 'admitted' | 'stored' | 'digest'>): ArtifactState {
  if (o.admitted && o.stored !== false) return 'admitted';
  // Records written before promotion existed have no `stored`: a digest means it was pushed.
  return (o.stored ?? o.digest !== undefined) ? 'provisional' : 'refused';
}

export function artifactRecords(record: ContainerExecutionRecord): ArtifactRecord[] {
  return (record.status?.outputs ?? []).map((o) => ({
    name: o.name,
    state: artifactState(o),
    ...(o.digest !== undefined ? { digest: o.digest } : {}),
    ...(o.size !== undefined ? { size: o.size } : {}),
    ...(o.mediaType !== undefined ? { mediaType: o.mediaType } : {}),
    ...(o.reference !== undefined ? { reference: o.reference } : {}),
    decision: {
      gate: 'artifactAccess',
      admitted: artifactState(o) === 'admitted',
      reason: o.reason ?? (o.admitted ? 'Admitted' : 'Unknown'),
      ...(o.rule !== undefined ? { rule: o.rule } : {}),
      ...(o.message !== undefined ? { message: o.message } : {}),
      ...(o.reviewedBy !== undefined ? { reviewedBy: o.reviewedBy } : {}),
      ...(o.reviewedAt !== undefined ? { reviewedAt: o.reviewedAt } : {}),
    },
  }));
}
