// A finished record's declared outputs: read from its stopped container (the runtime's archive
// API), bounded by localDiskBytes across all of them (over → that output is refused with a
// reason, never truncated), and stored as one OCI artifact (outputs/output-store.ts). A
// registry that does not answer throws RegistryError: the record keeps its container and waits
// (OutputsNotStored) until it does — nothing is lost.
import type { ContainerExecutionRecord } from '../api/types.generated.ts';
import type { OutputStore } from '../outputs/output-store.ts';
import { OUTPUT_LAYER_TYPE } from '../outputs/output-store.ts';
import { relativeToOutput } from '../outputs/output-archive.ts';
import { OutputMissingError, OutputTooLargeError, type ContainerRuntime } from '../runtimes/container-runtime.ts';

export type RecordOutput = NonNullable<NonNullable<ContainerExecutionRecord['status']>['outputs']>[number];

export async function collectOutputs(store: OutputStore | undefined, runtime: ContainerRuntime, record: ContainerExecutionRecord, maxBytes: number): Promise<RecordOutput[]> {
  const declared = record.spec.container.outputs ?? [];
  if (declared.length === 0) return [];
  const refuse = (name: string, reason: string, message: string): RecordOutput => ({ name, admitted: false, reason, message });
  if (!runtime.collectOutput) return declared.map((o) => refuse(o.name, 'OutputsNotCollected', `the ${runtime.kind} runtime does not collect outputs yet`));
  if (!store) return declared.map((o) => refuse(o.name, 'NoOutputRegistry', 'no output registry is configured (--output-registry): the output was not kept'));

  const read: Array<{ name: string; tar: Buffer }> = [];
  const refused = new Map<string, RecordOutput>();
  let left = maxBytes;
  for (const o of declared) {
    try {
      const tar = await relativeToOutput(await runtime.collectOutput(record.metadata.uid!, o.path, left), o.path);
      left -= tar.length;
      read.push({ name: o.name, tar });
    } catch (err) {
      if (err instanceof OutputTooLargeError) refused.set(o.name, refuse(o.name, 'OutputTooLarge', `${err.message}; ${maxBytes} bytes are shared by all outputs of the container`));
      else if (err instanceof OutputMissingError) refused.set(o.name, refuse(o.name, 'OutputMissing', err.message));
      else throw err;
    }
  }
  const stored = read.length > 0
    ? await store.store(record.metadata.namespace!, record.metadata.name!, record.metadata.uid!, read, {
        'agentmachine.sourceos.dev/record': `${record.metadata.namespace}/${record.metadata.name}`,
        'agentmachine.sourceos.dev/delegator': record.spec.authority.delegator,
      })
    : undefined;
  return declared.map((o) => {
    const layer = stored?.layers.get(o.name);
    if (!layer || !stored) return refused.get(o.name) ?? refuse(o.name, 'OutputMissing', 'not stored');
    return { name: o.name, admitted: true, digest: layer.digest, size: layer.size, mediaType: OUTPUT_LAYER_TYPE, reference: stored.reference, reason: 'Stored', message: `stored in ${stored.reference.split('@')[0]} (provisional until promoted)` };
  });
}
