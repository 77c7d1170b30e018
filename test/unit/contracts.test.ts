import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { generatedFiles } from '../../src/codegen/generated-files.ts';
import { buildAllCrds } from '../../src/codegen/crds.ts';
import { readSchemaFile, COMMON_SCHEMA_FILE } from '../../src/api/contracts.ts';
import { KINDS, CATEGORY } from '../../src/api/group.ts';
import { upstreamContractsDir, readUpstreamSchema, UPSTREAM_MISSING } from '../support/upstream.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('crds/ and src/api/types.generated.ts are up to date with contracts/ (run `make crds`)', () => {
  for (const file of generatedFiles()) {
    const onDisk = readFileSync(path.join(root, file.path), 'utf8');
    assert.equal(onDisk, file.content, `${file.path} is stale: run \`make crds\``);
  }
});

test('six CRDs, each with status subresource, printer columns, short names and the agent-machine category', () => {
  const crds = buildAllCrds();
  assert.equal(crds.length, 6);
  assert.deepEqual(crds.map((c) => (c.crd as any).spec.names.kind).sort(), [...KINDS].sort());
  for (const { crd } of crds) {
    const spec = (crd as any).spec;
    const version = spec.versions[0];
    assert.deepEqual(version.subresources, { status: {} }, `${spec.names.kind}: status subresource`);
    const columns = version.additionalPrinterColumns.map((c: { name: string }) => c.name);
    assert.ok(columns.includes('Ready') && columns.includes('Age'), `${spec.names.kind}: Ready and Age columns`);
    assert.ok(columns.length >= 4, `${spec.names.kind}: key figures in printer columns`);
    assert.ok(spec.names.shortNames.length >= 1, `${spec.names.kind}: short names`);
    assert.ok(spec.names.categories.includes(CATEGORY), `${spec.names.kind}: category`);
    assert.equal(spec.scope, spec.names.kind === 'AgentMachineProfile' ? 'Cluster' : 'Namespaced');
  }
});

test('generated CRD schemas are structural: a type on every node, no additionalProperties beside properties', () => {
  const walk = (node: any, at: string): void => {
    assert.ok(typeof node.type === 'string', `${at}: missing type`);
    assert.ok(!(node.properties && 'additionalProperties' in node), `${at}: properties with additionalProperties`);
    for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${at}.${k}`);
    if (node.items) walk(node.items, `${at}[]`);
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${at}{}`);
  };
  for (const { crd } of buildAllCrds()) {
    const spec = (crd as any).spec;
    walk(spec.versions[0].schema.openAPIV3Schema, spec.names.kind);
  }
});

test('operation types, profile types and budget dimensions match the upstream contract exactly', (t) => {
  const dir = upstreamContractsDir();
  if (!dir) return t.skip(UPSTREAM_MISSING);
  const upstream = readUpstreamSchema(dir).$defs;
  const ours = readSchemaFile(COMMON_SCHEMA_FILE)['$defs'] as Record<string, any>;
  assert.deepEqual(ours['operationType'].enum, upstream.operationType.enum);
  assert.deepEqual(ours['profileType'].enum, upstream.profileType.enum);
  assert.deepEqual(Object.keys(ours['budget'].properties), upstream.budget.required);
  assert.deepEqual(ours['operationEvent'].properties.eventType.enum, upstream.operationEventType.enum);
  const upstreamStates = readUpstreamSchema(dir).properties.operationTask.properties.state.enum;
  assert.deepEqual(ours['operation'].properties.state.enum, upstreamStates);
});
