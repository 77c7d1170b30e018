// Which stored outputs retention deletes: a pure decision over one artifact's manifest
// annotations. Provisional outputs (not admitted by the artifactAccess gate) go after
// --output-retention; admitted ones are durable workspace state and are kept unless
// --admitted-output-retention is set. Deleting an execution never deletes either: only age does.
// An artifact this controller did not write (no state or creation annotation, another artifact
// type) is never touched.
import { OUTPUT_ARTIFACT_TYPE, type OciManifest } from './oci-registry.ts';
import { CREATED_ANNOTATION, STATE_ANNOTATION } from './output-store.ts';

export interface RetentionPolicy {
  /** Provisional outputs older than this are deleted. */
  provisionalMs?: number;
  /** Admitted outputs older than this are deleted; unset keeps them. */
  admittedMs?: number;
}

export type RetentionVerdict = { delete: false; why: string } | { delete: true; why: string };

export function retentionVerdict(manifest: Pick<OciManifest, 'artifactType' | 'annotations'>, now: Date, policy: RetentionPolicy): RetentionVerdict {
  if (manifest.artifactType !== OUTPUT_ARTIFACT_TYPE) return { delete: false, why: 'not an agent-machine output' };
  const state = manifest.annotations?.[STATE_ANNOTATION];
  const created = Date.parse(manifest.annotations?.[CREATED_ANNOTATION] ?? '');
  if ((state !== 'admitted' && state !== 'provisional') || !Number.isFinite(created)) return { delete: false, why: 'no state or creation time: kept' };
  const limit = state === 'admitted' ? policy.admittedMs : policy.provisionalMs;
  if (limit === undefined) return { delete: false, why: `${state}: no retention set` };
  const age = now.getTime() - created;
  return age > limit ? { delete: true, why: `${state}, ${Math.round(age / 1000)} s old (retention ${Math.round(limit / 1000)} s)` } : { delete: false, why: `${state}, within retention` };
}
