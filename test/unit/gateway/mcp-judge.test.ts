import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterToolsList, judgeMcpPost, MCP_ERRORS, toolNameVerdict } from '../../../src/gateway/mcp-judge.ts';

const GRANTED = ['echo', 'get-sum'];
const call = (id: number, name: unknown) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

test('granted tools/call pass and are counted; tools/list is noted', () => {
  const j = judgeMcpPost(JSON.stringify([call(1, 'echo'), { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { jsonrpc: '2.0', method: 'notifications/initialized' }, call(3, 'get-sum')]), GRANTED);
  assert.deepEqual(j, { ok: true, calls: ['echo', 'get-sum'], listsTools: true, requestIds: [1, 2, 3], batch: true });
  assert.deepEqual(judgeMcpPost(JSON.stringify(call(1, 'anything')), []), { ok: true, calls: ['anything'], listsTools: false, requestIds: [1], batch: false });
});

test('an ungranted tools/call gets a JSON-RPC error with its id; case and confusables are not the granted name', () => {
  for (const name of ['get-env', 'Echo', 'ECHO', 'ｅｃｈｏ', 'ec\u0068o\u200b', 'еcho']) {
    const j = judgeMcpPost(JSON.stringify(call(7, name)), GRANTED);
    assert.ok(!j.ok, name);
    assert.equal(j.status, 200);
    assert.deepEqual([(j.body as any).id, (j.body as any).error.code], [7, MCP_ERRORS.notGranted], name);
    assert.equal(j.refusedCalls[0]!.name, name);
  }
  assert.match(toolNameVerdict('Echo', GRANTED).ok ? '' : (toolNameVerdict('Echo', GRANTED) as any).message, /by case/);
  assert.match((toolNameVerdict('ｅｃｈｏ', GRANTED) as any).message, /NFKC/);
});

test('a tools/call hidden in a batch refuses the whole batch: every request answered, nothing forwarded', () => {
  const j = judgeMcpPost(JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, call(2, 'get-env'), { jsonrpc: '2.0', method: 'notifications/progress', params: {} }]), GRANTED);
  assert.ok(!j.ok);
  assert.deepEqual((j.body as any[]).map((e) => [e.id, e.error.code]), [
    [1, MCP_ERRORS.batchRefused],
    [2, MCP_ERRORS.notGranted],
  ]);
});

test('malformed JSON, unknown methods, bad messages and empty batches are refused', () => {
  const parse = judgeMcpPost('{"jsonrpc":"2.0",', GRANTED);
  assert.deepEqual(!parse.ok && [parse.status, (parse.body as any).error.code, (parse.body as any).id], [400, MCP_ERRORS.parse, null]);
  const unknown = judgeMcpPost(JSON.stringify({ jsonrpc: '2.0', id: 'u', method: 'tools/exec', params: {} }), GRANTED);
  assert.deepEqual(!unknown.ok && [(unknown.body as any).id, (unknown.body as any).error.code], ['u', MCP_ERRORS.methodNotFound]);
  for (const bad of [[], { id: 1, method: 'ping' }, { jsonrpc: '2.0', id: {}, method: 'ping' }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: [] }, { jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo' } }, 42, null]) {
    assert.equal(judgeMcpPost(JSON.stringify(bad), GRANTED).ok, false, JSON.stringify(bad));
  }
  const noName = judgeMcpPost(JSON.stringify(call(1, 42)), GRANTED);
  assert.equal(!noName.ok && (noName.body as any).error.code, MCP_ERRORS.invalidParams);
});

test('responses of the client to server requests pass', () => {
  assert.ok(judgeMcpPost(JSON.stringify({ jsonrpc: '2.0', id: 5, result: {} }), GRANTED).ok);
});

test('tools/list results keep only granted tools', () => {
  const msg = { jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'echo' }, { name: 'get-env' }, { name: 'Echo' }, { name: 'get-sum' }], nextCursor: 'c' } };
  const f = filterToolsList(msg, GRANTED);
  assert.ok(f.changed);
  assert.deepEqual((f.message as any).result, { tools: [{ name: 'echo' }, { name: 'get-sum' }], nextCursor: 'c' });
  assert.equal(filterToolsList(msg, []).changed, false, 'no actions: every tool');
  assert.equal(filterToolsList({ jsonrpc: '2.0', id: 1, result: { content: [] } }, GRANTED).changed, false);
});
