// Synchronous CEL evaluation with a hard deadline. Policy evaluation is a pure, synchronous
// function for its callers, but a profile rule can be slow on hostile input (see
// cel-compile.ts), and a busy main thread stalls every reconciler, the gateway and leader
// election. So rules run on one worker thread while the caller blocks on Atomics.wait with a
// timeout; past it the worker is terminated and replaced, and the rule counts as denied.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { CelCompiler } from './cel-compile.ts';
import type { EvaluationAnswer, EvaluationJob } from './cel-worker.ts';

export type SandboxResult = { kind: 'bool'; value: boolean } | { kind: 'not-bool'; type: string } | { kind: 'error'; error: string; /** The evaluator failed (clock, worker), not the rule. */ stopped?: true };

export type CelSandboxOptions = {
  /** How long the worker may take to start (module loading) before CEL rules deny. */
  startupTimeoutMs?: number;
  /** V8 heap cap for the worker, so a rule that builds huge lists dies alone. */
  maxHeapMb?: number;
};

type Running = { worker: Worker; port: MessagePort; signal: Int32Array };

const RETRY_START_AFTER_MS = 30_000;
const WORKER_URL = new URL('./cel-worker.ts', import.meta.url);

export class CelSandbox {
  /** Compiled rules by text, for the main thread's own uses (cost, validation). */
  readonly compiler = new CelCompiler();
  readonly #startupTimeoutMs: number;
  readonly #maxHeapMb: number;
  #running: Running | undefined;
  #nextId = 1;
  // After a failed start, deny at once for a while instead of blocking on every rule.
  #unavailableUntil = 0;
  #unavailableReason = '';

  constructor(options: CelSandboxOptions = {}) {
    this.#startupTimeoutMs = options.startupTimeoutMs ?? 5000;
    this.#maxHeapMb = options.maxHeapMb ?? 64;
  }

  /** Never throws. `context` must be structured-cloneable plain data (see toCelValue). */
  evaluate(expression: string, context: Record<string, unknown>, timeoutMs: number): SandboxResult {
    let running: Running;
    try {
      running = this.#ensureRunning();
    } catch (error) {
      return { kind: 'error', error: `CEL evaluator unavailable: ${error instanceof Error ? error.message : String(error)}`, stopped: true };
    }
    const id = this.#nextId++;
    try {
      Atomics.store(running.signal, 0, 0);
      running.worker.postMessage({ id, expression, context } satisfies EvaluationJob);
      const waited = Atomics.wait(running.signal, 0, 0, Math.max(1, timeoutMs));
      if (waited === 'timed-out') {
        this.#discard();
        return { kind: 'error', error: `evaluation exceeded ${Math.round(timeoutMs)}ms and was stopped`, stopped: true };
      }
      for (let received = receiveMessageOnPort(running.port); received; received = receiveMessageOnPort(running.port)) {
        const answer = received.message as EvaluationAnswer;
        if (answer.id !== id) continue; // an answer to a job the caller already gave up on
        const { id: _, ...result } = answer;
        return result;
      }
      this.#discard();
      return { kind: 'error', error: 'the evaluator signalled without an answer', stopped: true };
    } catch (error) {
      this.#discard();
      return { kind: 'error', error: `evaluation failed: ${error instanceof Error ? error.message : String(error)}`, stopped: true };
    }
  }

  /** Stops the worker; the next evaluation starts a new one. */
  close(): void {
    this.#discard();
  }

  #ensureRunning(): Running {
    if (this.#running) return this.#running;
    if (Date.now() < this.#unavailableUntil) throw new Error(this.#unavailableReason);
    const signal = new Int32Array(new SharedArrayBuffer(8));
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_URL, {
      workerData: { signal, port: port2 },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb, maxYoungGenerationSizeMb: 16 },
    });
    // Neither the worker nor its port may keep the process alive; a crash only means "deny".
    worker.unref();
    port1.unref();
    worker.on('error', () => this.#forget(worker));
    worker.on('exit', () => this.#forget(worker));
    if (Atomics.wait(signal, 1, 0, this.#startupTimeoutMs) === 'timed-out') {
      void worker.terminate();
      this.#unavailableReason = `worker did not start within ${this.#startupTimeoutMs}ms`;
      this.#unavailableUntil = Date.now() + RETRY_START_AFTER_MS;
      throw new Error(this.#unavailableReason);
    }
    this.#running = { worker, port: port1, signal };
    return this.#running;
  }

  #forget(worker: Worker): void {
    if (this.#running?.worker === worker) {
      this.#running.port.close();
      this.#running = undefined;
    }
  }

  #discard(): void {
    const running = this.#running;
    this.#running = undefined;
    if (running) {
      running.port.close();
      void running.worker.terminate();
    }
  }
}
