// A container record's outputs as artifact records (admitted, provisional, refused, each with the
// artifactAccess decision), and where they travel upstream: the prophet-core WorkspaceOperation's
// artifact_ids (admitted digests) and its open metadata (every record), validated there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifactRecords } from '../../../src/api/artifact-records.ts';
import type { ContainerExecutionRecord } from '../../../src/api/types.generated.ts';
import { buildProphetCoreRecords } from '../../../src/api/upstream-records/prophet-core.ts';
import { exampleObjects, inputsFor } from '../../support/upstream-record-fixtures.ts';
import { referenceDir, REFERENCE_MISSING, validateReference } from '../../support/upstream.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const REF = `127.0.0.1:5000/agent-machine/ns/r@${DIGEST}`;

function ended(): ContainerExecutionRecord {
  const rec = exampleObjects().find(({ obj }) => obj.kind === 'ContainerExecutionRecord')!.obj as ContainerExecutionRecord;
  return {
    ...rec,
    status: {
      outputs: [
        { name: 'report', stored: true, admitted: true, digest: DIGEST, size: 10, mediaType: 'application/vnd.agentmachine.output.layer.v1.tar', reference: REF, reason: 'Admitted', rule: 'artifactAccess', message: 'every rule admits it' },
        { name: 'bins', stored: true, admitted: false, digest: DIGEST, size: 10, reference: REF, reason: 'PromotionRefused', rule: 'builtin.outputs.media-types', message: 'holds [application/x-executable]' },
        { name: 'huge', stored: false, admitted: false, reason: 'OutputTooLarge', message: 'refused, not truncated' },
      ],
    },
  } as ContainerExecutionRecord;
}

test('outputs are artifact records: admitted, provisional or refused, each with its decision', () => {
  const records = artifactRecords(ended());
  assert.deepEqual(records.map((r) => [r.name, r.state, r.decision.admitted, r.decision.reason, r.decision.rule]), [
    ['report', 'admitted', true, 'Admitted', 'artifactAccess'],
    ['bins', 'provisional', false, 'PromotionRefused', 'builtin.outputs.media-types'],
    ['huge', 'refused', false, 'OutputTooLarge', undefined],
  ]);
  assert.equal(records[0]!.reference, REF);
});

test('the prophet-core WorkspaceOperation names the admitted output and carries every record, and validates upstream', (t) => {
  const op = buildProphetCoreRecords(inputsFor(ended(), [])).workspaceOperation;
  assert.deepEqual(op.artifact_ids, [DIGEST], 'only the admitted output is durable workspace state');
  assert.deepEqual((op.metadata['outputs'] as Array<{ name: string }>).map((o) => o.name), ['report', 'bins', 'huge']);
  const dir = referenceDir();
  if (!dir) {
    console.warn(REFERENCE_MISSING);
    return t.skip(REFERENCE_MISSING);
  }
  assert.deepEqual(validateReference(dir, 'SocioProphet__prophet-core-contracts/schemas/workspace-operation.schema.json', op), []);
});
