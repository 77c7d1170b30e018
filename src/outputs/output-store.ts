// Where a record's collected outputs go: one OCI artifact per container record in the output
// registry (repository agent-machine/<namespace>/<record>, tagged with the record's UID), each
// output a layer holding the tar archive the runtime read. Content-addressed: the same bytes
// are the same digests, and pushing them again stores nothing new.
import { OciRegistry, type ArtifactFile, type Descriptor } from './oci-registry.ts';

/** The media type of one output: a tar archive of the declared path. */
export const OUTPUT_LAYER_TYPE = 'application/vnd.agentmachine.output.layer.v1.tar';

export interface StoredOutputs {
  /** registry/repository@sha256:<manifest> */
  reference: string;
  /** Per output name, its layer. */
  layers: Map<string, Descriptor>;
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

  async store(namespace: string, recordName: string, recordUid: string, outputs: ReadonlyArray<{ name: string; tar: Buffer }>, annotations: Record<string, string>): Promise<StoredOutputs> {
    const files: ArtifactFile[] = outputs.map((o) => ({ name: o.name, mediaType: OUTPUT_LAYER_TYPE, data: o.tar }));
    const pushed = await this.#registry.pushArtifact(repositoryFor(namespace, recordName), recordUid, files, annotations);
    const layers = new Map(pushed.manifest.layers.map((l) => [l.annotations?.['org.opencontainers.image.title'] ?? '', l]));
    return { reference: pushed.reference, layers };
  }
}

/** agent-machine/<namespace>/<record>: both are DNS labels, so always a valid repository name. */
export function repositoryFor(namespace: string, recordName: string): string {
  return `agent-machine/${namespace}/${recordName}`.toLowerCase();
}
