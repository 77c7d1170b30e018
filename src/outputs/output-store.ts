// Where a record's collected outputs go: one OCI artifact per output in the output registry
// (repository agent-machine/<namespace>/<record>, tagged <record UID>-<output>), holding the
// tar archive the runtime read as its one layer. One artifact per output because each output
// is promoted (or held provisional) on its own, and retention deletes provisional ones without
// touching their admitted siblings. Content-addressed: the same bytes are the same digests, and
// pushing them again stores nothing new.
import { OciRegistry, type ArtifactFile, type Descriptor } from './oci-registry.ts';

/** The media type of one output: a tar archive of the declared path. */
export const OUTPUT_LAYER_TYPE = 'application/vnd.agentmachine.output.layer.v1.tar';
/** Manifest annotation: admitted (durable workspace state) or provisional; retention reads it. */
export const STATE_ANNOTATION = 'agentmachine.sourceos.dev/state';
export const OUTPUT_ANNOTATION = 'agentmachine.sourceos.dev/output';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
export const REPOSITORY_PREFIX = 'agent-machine/';

export type OutputState = 'admitted' | 'provisional';

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
}

/** agent-machine/<namespace>/<record>: both are DNS labels, so always a valid repository name. */
export function repositoryFor(namespace: string, recordName: string): string {
  return `${REPOSITORY_PREFIX}${namespace}/${recordName}`.toLowerCase();
}

/** <uid>-<output>: a UID (36) and a DNS label (63) fit a tag's 128 characters. */
export function tagFor(recordUid: string, outputName: string): string {
  return `${recordUid}-${outputName}`.toLowerCase();
}
