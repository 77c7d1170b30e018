// Where a record's collected outputs go: one OCI artifact per output in the output registry
// (repository agent-machine/<namespace>/<record>, tagged <record UID>-<output>), holding the
// tar archive the runtime read as its one layer. One artifact per output because each output
// is promoted (or held provisional) on its own, and retention deletes provisional ones without
// touching their admitted siblings. Content-addressed: the same bytes are the same digests, and
// pushing them again stores nothing new.
import { OciRegistry, RegistryError, type ArtifactFile, type Descriptor } from './oci-registry.ts';

/** The media type of one output: a tar archive of the declared path. */
export const OUTPUT_LAYER_TYPE = 'application/vnd.agentmachine.output.layer.v1.tar';
/** Manifest annotation: admitted (durable workspace state) or provisional; retention reads it. */
export const STATE_ANNOTATION = 'agentmachine.sourceos.dev/state';
export const OUTPUT_ANNOTATION = 'agentmachine.sourceos.dev/output';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
export const REPOSITORY_PREFIX = 'agent-machine/';
/** Manifest annotations of an output a reviewer admitted (governance/output-review.ts). */
export const REVIEWED_BY_ANNOTATION = 'agentmachine.sourceos.dev/reviewed-by';
export const REVIEWED_AT_ANNOTATION = 'agentmachine.sourceos.dev/reviewed-at';

export type OutputState = 'admitted' | 'provisional';

/** One output of one record: where it is kept. */
export interface OutputOf {
  namespace: string;
  name: string;
  uid: string;
  output: string;
}

export interface StoredOutput {
  /** registry/repository@sha256:<manifest> */
  reference: string;
  layer: Descriptor;
}

export class OutputStore {
  readonly #registry: OciRegistry;

  constructor(registry: OciRegistry) {
    this.#registry = registry;
  }

  /** host[:port] of the registry, for messages. */
  get host(): string {
    return this.#registry.host;
  }

  get registry(): OciRegistry {
    return this.#registry;
  }

  async store(namespace: string, recordName: string, recordUid: string, output: { name: string; tar: Buffer }, state: OutputState, createdAt: Date, annotations: Record<string, string>): Promise<StoredOutput> {
    const files: ArtifactFile[] = [{ name: output.name, mediaType: OUTPUT_LAYER_TYPE, data: output.tar }];
    const pushed = await this.#registry.pushArtifact(repositoryFor(namespace, recordName), tagFor(recordUid, output.name), files, {
      ...annotations,
      [OUTPUT_ANNOTATION]: output.name,
      [STATE_ANNOTATION]: state,
      [CREATED_ANNOTATION]: createdAt.toISOString(),
    });
    return { reference: pushed.reference, layer: pushed.manifest.layers[0]! };
  }

  /**
   * Re-states a stored output as admitted after a review: the same layer under a new manifest
   * (its annotations say admitted, by whom, when; the creation time stays, so retention ages it
   * from when it was made) at the same tag. The provisional manifest it replaces stays until
   * the record names the new one (dropReplaced): a crash in between finds it again.
   */
  async admitReviewed(record: OutputOf, reference: string, layer: Descriptor, reviewer: string, at: Date): Promise<StoredOutput> {
    // The repository is the record's own, whatever the reference's host and path say.
    const repo = repositoryFor(record.namespace, record.name);
    const { digest } = parseReference(reference);
    const output = record.output;
    const { manifest } = await this.#registry.pullManifest(repo, digest);
    const held = manifest.layers.find((l) => l.digest === layer.digest && l.size === layer.size);
    if (manifest.annotations?.[OUTPUT_ANNOTATION] !== output || !held) throw new RegistryError(`${reference} is not the artifact of output ${output} its record names`);
    const tar = await this.#registry.pullBlob(repo, held);
    const pushed = await this.#registry.pushArtifact(repo, tagFor(record.uid, output), [{ name: output, mediaType: held.mediaType, data: tar }], {
      ...manifest.annotations,
      [STATE_ANNOTATION]: 'admitted',
      [REVIEWED_BY_ANNOTATION]: reviewer,
      [REVIEWED_AT_ANNOTATION]: at.toISOString(),
    });
    return { reference: pushed.reference, layer: pushed.manifest.layers[0]! };
  }

  /**
   * Deletes the provisional manifest a review replaced, so nothing untagged is left that
   * retention (which walks tags) would never find. Best effort: a registry that refuses deletes
   * keeps it, which is harmless (no record names it). False when it was not deleted.
   */
  async dropReplaced(record: Omit<OutputOf, 'output'>, replaced: string, current: string): Promise<boolean> {
    const old = parseReference(replaced).digest;
    if (old === parseReference(current).digest) return false;
    return this.#registry.deleteManifest(repositoryFor(record.namespace, record.name), old).then(
      () => true,
      () => false,
    );
  }

  /** Reads a stored output's layer (digest and size verified) for a decision to look at again. */
  async read(record: OutputOf, layer: Descriptor): Promise<Buffer> {
    return this.#registry.pullBlob(repositoryFor(record.namespace, record.name), layer);
  }
}

/** host/repository@sha256:... as status.outputs[].reference holds it. */
export function parseReference(reference: string): { repo: string; digest: string } {
  const at = reference.lastIndexOf('@');
  const slash = reference.indexOf('/');
  if (at < 0 || slash < 0 || slash > at) throw new RegistryError(`${JSON.stringify(reference)} is not host/repository@digest`);
  return { repo: reference.slice(slash + 1, at), digest: reference.slice(at + 1) };
}

/** agent-machine/<namespace>/<record>: both are DNS labels, so always a valid repository name. */
export function repositoryFor(namespace: string, recordName: string): string {
  return `${REPOSITORY_PREFIX}${namespace}/${recordName}`.toLowerCase();
}

/** <uid>-<output>: a UID (36) and a DNS label (63) fit a tag's 128 characters. */
export function tagFor(recordUid: string, outputName: string): string {
  return `${recordUid}-${outputName}`.toLowerCase();
}
