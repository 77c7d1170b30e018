// A finished record's declared outputs: read from its stopped container (the runtime's archive
// API), bounded by localDiskBytes across all of them (over → that output is refused with a
// reason, never truncated), decided by the artifactAccess gate (governance/output-promotion.ts)
// and stored as one OCI artifact each (outputs/output-store.ts), marked admitted or provisional.
// A registry that does not answer throws RegistryError: the record keeps its container and
// waits (OutputsNotStored) until it does — nothing is lost.
import type { AgentMachineProfile, ContainerExecutionRecord } from '../api/types.generated.ts';
import { decidePromotion } from '../governance/output-promotion.ts';
import { contentTypes } from '../outputs/content-types.ts';
import type { OutputStore } from '../outputs/output-store.ts';
import { OUTPUT_LAYER_TYPE } from '../outputs/output-store.ts';
import { relativeToOutput } from '../outputs/output-archive.ts';
import { OutputMissingError, OutputTooLargeError, type ContainerRuntime } from '../runtimes/container-runtime.ts';

export type RecordOutput = NonNullable<NonNullable<ContainerExecutionRecord['status']>['outputs']>[number];

/** status.outputs[].contentTypes holds at most 16. */
const MAX_CONTENT_TYPES = 16;

export async function collectOutputs(store: OutputStore | undefined, runtime: ContainerRuntime, record: ContainerExecutionRecord, profile: AgentMachineProfile | undefined, maxBytes: number, now: Date): Promise<RecordOutput[]> {
  const declared = record.spec.container.outputs ?? [];
  if (declared.length === 0) return [];
  const refuse = (name: string, reason: string, message: string): RecordOutput => ({ name, stored: false, admitted: false, reason, message });
  if (!runtime.collectOutput) return declared.map((o) => refuse(o.name, 'OutputsNotCollected', `the ${runtime.kind} runtime does not collect outputs yet`));
  if (!store) return declared.map((o) => refuse(o.name, 'NoOutputRegistry', 'no output registry is configured (--output-registry): the output was not kept'));

  const results: RecordOutput[] = [];
  let left = maxBytes;
  for (const o of declared) {
    let tar: Buffer;
    try {
      tar = await relativeToOutput(await runtime.collectOutput(record.metadata.uid!, o.path, left), o.path);
    } catch (err) {
      if (err instanceof OutputTooLargeError) results.push(refuse(o.name, 'OutputTooLarge', `${err.message}; ${maxBytes} bytes are shared by all outputs of the container`));
      else if (err instanceof OutputMissingError) results.push(refuse(o.name, 'OutputMissing', err.message));
      else throw err;
      continue;
    }
    left -= tar.length;
    const types = await contentTypes(tar).catch(() => ['application/x-tar-unreadable']);
    const promotion = decidePromotion(profile, { name: o.name, size: tar.length, contentTypes: types });
    const stored = await store.store(record.metadata.namespace!, record.metadata.name!, record.metadata.uid!, { name: o.name, tar }, promotion.admitted ? 'admitted' : 'provisional', now, {
      'agentmachine.sourceos.dev/record': `${record.metadata.namespace}/${record.metadata.name}`,
      'agentmachine.sourceos.dev/delegator': record.spec.authority.delegator,
    });
    results.push({
      name: o.name,
      stored: true,
      admitted: promotion.admitted,
      digest: stored.layer.digest,
      size: stored.layer.size,
      mediaType: OUTPUT_LAYER_TYPE,
      contentTypes: types.slice(0, MAX_CONTENT_TYPES),
      reference: stored.reference,
      reason: promotion.reason,
      rule: promotion.rule,
      message: promotion.message.slice(0, 1024),
    });
  }
  return results;
}
