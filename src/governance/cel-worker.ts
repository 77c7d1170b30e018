// The CEL evaluation thread. It exists so that a rule that runs too long can be stopped: the
// main thread waits with a deadline and terminates this thread when it passes
// (cel-sandbox.ts). It sends back only whether the result was the boolean true/false, or what
// else it was, never the value itself.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { CelCompiler, errorSummary } from './cel-compile.ts';

export type EvaluationJob = { id: number; expression: string; context: Record<string, unknown> };
export type EvaluationAnswer =
  | { id: number; kind: 'bool'; value: boolean }
  | { id: number; kind: 'not-bool'; type: string }
  | { id: number; kind: 'error'; error: string };

const { signal, port } = workerData as { signal: Int32Array; port: MessagePort };
// This thread's own: it lives as long as the thread, which is this module's whole purpose.
const compiler = new CelCompiler();

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'double';
  if (value instanceof Date) return 'timestamp';
  return typeof value === 'object' ? 'map' : typeof value;
}

function run(job: EvaluationJob): EvaluationAnswer {
  const compiled = compiler.compile(job.expression);
  if (!compiled.ok) return { id: job.id, kind: 'error', error: compiled.error };
  try {
    const value: unknown = compiled.program(job.context);
    if (typeof value === 'boolean') return { id: job.id, kind: 'bool', value };
    if (value instanceof Promise) return { id: job.id, kind: 'not-bool', type: 'promise' };
    return { id: job.id, kind: 'not-bool', type: typeName(value) };
  } catch (error) {
    return { id: job.id, kind: 'error', error: errorSummary(error) };
  }
}

parentPort?.on('message', (job: EvaluationJob) => {
  port.postMessage(run(job));
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});

Atomics.store(signal, 1, 1);
Atomics.notify(signal, 1);
