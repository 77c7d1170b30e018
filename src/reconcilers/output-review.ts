// Applies an output review to a finished ContainerExecutionRecord (the decision is
// governance/output-review.ts): once per distinct review (status.outputReview.observed), in the
// order the house requires — every refusal before any change; the registry re-stated first (an
// admitted output is a new manifest at the same tag), then the audit line, then the status, and
// an Event for the review. A review that is refused changes no output and says why.
import type { AgentMachineProfile, ContainerExecutionRecord } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { allow, deny, type Decision } from '../governance/decision.ts';
import { applyReview, parseReview, reviewerRefusal, type OutputReview } from '../governance/output-review.ts';
import { REVIEW_RULE } from '../governance/output-promotion.ts';
import type { OutputCandidate } from '../governance/requests.ts';
import { contentTypes } from '../outputs/content-types.ts';
import { RegistryError } from '../outputs/oci-registry.ts';
import type { ReconcilerDeps } from './deps.ts';

// Upstream's WorkspaceOperation enumerates the operation types it accepts and has no review: a
// review is audited as part of the record's own operation (reason OutputsReviewed, the
// artifactAccess decisions attached), so the records we emit stay valid upstream.
export const REVIEW: 'agent_machine.container.run' = 'agent_machine.container.run';
const GATE = 'artifactAccess';

type Status = NonNullable<ContainerExecutionRecord['status']>;
type OutputReviewStatus = NonNullable<Status['outputReview']>;

/** Does the record carry a review not decided yet? Cheap: for the finished-record path. */
export function reviewPending(record: ContainerExecutionRecord): boolean {
  const parsed = parseReview(record.metadata.annotations);
  if (!parsed) return false;
  const observed = 'review' in parsed ? parsed.review.observed : parsed.observed;
  return record.status?.outputReview?.observed !== observed;
}

export async function applyOutputReview(deps: ReconcilerDeps, record: ContainerExecutionRecord, profile: AgentMachineProfile | undefined, now: Date): Promise<void> {
  const parsed = parseReview(record.metadata.annotations);
  if (!parsed || !reviewPending(record)) return;
  const name = record.metadata.name!;
  const namespace = record.metadata.namespace!;
  const reviewer = 'review' in parsed ? parsed.review.reviewer : parsed.reviewer;
  const observed = 'review' in parsed ? parsed.review.observed : parsed.observed;

  const refuse = async (reason: string, message: string) => {
    const decision = deny(GATE, `${REVIEW_RULE}.${reason}`, message);
    await deps.recorder.record(record, { operationType: REVIEW, outcome: 'denied', reason: 'OutputReviewRefused', message: `output review by ${reviewer || '(unnamed)'} refused: ${message}`, warning: true, actor: reviewer || 'unknown', decisions: [decision] });
    await writeReview(deps, record, record.status?.outputs, { observed, reviewer: reviewer.slice(0, 256), outcome: 'Refused', reason, message: message.slice(0, 1024), at: now.toISOString() });
  };

  if ('error' in parsed) return refuse('ReviewInvalid', parsed.error);
  const review = parsed.review;
  const separation = reviewerRefusal(review.reviewer, record.spec.authority.delegator);
  if (separation) return refuse('SeparationOfDuties', separation);
  // Throws AuthorizationUnavailableError when nothing could be asked: retried, nothing decided.
  const authorized = await deps.authorizer.authorizeReviewer(review.reviewer, name, namespace);
  if (!authorized.allowed) return refuse(authorized.reason, authorized.message);
  if (!deps.outputs) return refuse('NoOutputRegistry', 'no output registry is configured (--output-registry): nothing can be admitted');

  // The profile decides again on the bytes as stored, not on the (bounded) lists in status.
  const candidates = await readCandidates(deps, record, review);
  const applied = applyReview(profile, record.status?.outputs ?? [], review, candidates, now);
  const outputs = [];
  const replaced: Array<[string, string]> = [];
  for (const o of applied.outputs) {
    const change = applied.changes.find((c) => c.name === o.name);
    if (change?.verdict !== 'admitted' || !o.reference || !o.digest || o.size === undefined) {
      outputs.push(o);
      continue;
    }
    // A RegistryError here fails the reconcile: retried, and the review is decided again.
    const stored = await deps.outputs.admitReviewed({ namespace, name, uid: record.metadata.uid!, output: o.name }, o.reference, { digest: o.digest, size: o.size, mediaType: o.mediaType ?? '' }, review.reviewer, now);
    replaced.push([o.reference, stored.reference]);
    outputs.push({ ...o, reference: stored.reference });
  }
  const decisions: Decision[] = applied.changes.map((c) => (c.verdict === 'admitted' || c.verdict === 'rejected' ? allow : deny)(GATE, REVIEW_RULE, c.why));
  const summary = applied.changes.map((c) => `${c.name}: ${c.verdict}`).join(', ');
  const anyRefused = applied.changes.some((c) => c.verdict === 'refused' || c.verdict === 'unchanged');
  const message = `output review by ${review.reviewer}: ${summary}`;
  await deps.recorder.record(record, { operationType: REVIEW, outcome: anyRefused ? 'denied' : 'allowed', reason: 'OutputsReviewed', message, warning: anyRefused, actor: review.reviewer, decisions });
  await writeReview(deps, record, outputs, { observed, reviewer: review.reviewer, outcome: 'Applied', reason: anyRefused ? 'PartlyApplied' : 'Applied', message: message.slice(0, 1024), at: now.toISOString() });
  // Only now that the record names the admitted manifests are the provisional ones let go.
  for (const [old, current] of replaced) {
    if (!(await deps.outputs.dropReplaced({ namespace, name, uid: record.metadata.uid! }, old, current))) deps.logger.warn({ record: `${namespace}/${name}`, manifest: old }, 'the provisional manifest a review replaced was not deleted (the registry refuses deletes?)');
  }
}

async function readCandidates(deps: ReconcilerDeps, record: ContainerExecutionRecord, review: OutputReview): Promise<Map<string, OutputCandidate>> {
  const candidates = new Map<string, OutputCandidate>();
  for (const o of record.status?.outputs ?? []) {
    if (!review.admit.includes(o.name) || o.admitted || !o.stored || !o.digest || o.size === undefined) continue;
    let tar: Buffer;
    try {
      tar = await deps.outputs!.read({ namespace: record.metadata.namespace!, name: record.metadata.name!, uid: record.metadata.uid!, output: o.name }, { digest: o.digest, size: o.size, mediaType: o.mediaType ?? '' });
    } catch (err) {
      // Gone (retention deleted it): nothing to admit, and applyReview says so. Anything else
      // (the registry away) fails the reconcile, which is retried.
      if (err instanceof RegistryError && err.status === 404) continue;
      throw err;
    }
    candidates.set(o.name, { name: o.name, size: tar.length, contentTypes: await contentTypes(tar).catch(() => ['application/x-tar-unreadable']) });
  }
  return candidates;
}

async function writeReview(deps: ReconcilerDeps, record: ContainerExecutionRecord, outputs: Status['outputs'], outputReview: OutputReviewStatus): Promise<void> {
  await deps.status.write(RESOURCES.ContainerExecutionRecord, record, { ...record.status, ...(outputs ? { outputs } : {}), outputReview });
}
