// Every --format builds from the same inputs; the ones an object cannot have say why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFormat, CONTRACT_FORMATS } from '../../../../src/api/upstream-records/formats.ts';
import { exampleObjects, inputsFor, scenario } from '../../../support/upstream-record-fixtures.ts';

const examples = exampleObjects();

test('every format builds for the kind it is about; the others refuse with the reason', () => {
  for (const { obj } of examples) {
    const s = scenario(obj, 'completed');
    for (const format of CONTRACT_FORMATS) {
      const only = format === 'local-agent-execution' ? 'LocalAgentExecution' : format === 'agent-registry' ? 'ToolGrantRecord' : undefined;
      if (only && obj.kind !== only) assert.throws(() => buildFormat(format, inputsFor(s.obj, s.audit)), new RegExp(`is a ${only}'s; ${obj.kind} has none`), `${format} ${obj.kind}`);
      else assert.ok(buildFormat(format, inputsFor(s.obj, s.audit)), `${format} ${obj.kind}`);
    }
  }
});
