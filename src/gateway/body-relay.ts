// A connector's answer body relayed to the agent, chunk by chunk through the stages that must
// see it (the credential mask, the SSE tools/list filter), with backpressure both ways. Written
// by hand rather than with stream.pipeline and Transform streams: for a call answered in one
// chunk, pipeline's bookkeeping (its AbortController, the premature-close errors it builds
// while tearing a finished pipeline down, a Transform per stage) cost more CPU than the relay
// itself.
import type http from 'node:http';
import type { Readable } from 'node:stream';

/** One stage of the relay: what may go out now for a chunk, and what is left at the end. */
export interface ChunkStage {
  /** May throw: the answer is then cut off. */
  push(chunk: Buffer): Buffer | string | undefined;
  end(): Buffer | string | undefined;
}

/**
 * Streams `source` into `res` (whose head is written) through `stages`; `done` is called once,
 * when the answer ended, failed, or the agent went away. A failure on either side destroys the
 * other: an agent must not take a cut-off answer for a whole one.
 */
export function relayBody(source: Readable, res: http.ServerResponse, stages: readonly ChunkStage[], done: () => void): void {
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    source.off('data', onData);
    res.off('drain', onDrain);
    done();
  };
  const fail = (): void => {
    finish();
    source.destroy();
    res.destroy();
  };
  const through = (chunk: Buffer | string | undefined, from: number): Buffer | string | undefined => {
    let c = chunk;
    for (let i = from; i < stages.length && c !== undefined && c.length > 0; i++) c = stages[i]!.push(typeof c === 'string' ? Buffer.from(c) : c);
    return c;
  };
  const onData = (chunk: Buffer): void => {
    let out: Buffer | string | undefined;
    try {
      out = through(chunk, 0);
    } catch {
      fail();
      return;
    }
    if (out !== undefined && out.length > 0 && !res.write(out)) source.pause();
  };
  const onDrain = (): void => void source.resume();
  source.on('data', onData);
  res.on('drain', onDrain);
  source.once('end', () => {
    if (finished) return;
    let tail = '' as Buffer | string;
    try {
      // What each stage held back passes through the stages after it.
      const parts: Array<Buffer | string> = [];
      for (let i = 0; i < stages.length; i++) {
        const held = through(stages[i]!.end(), i + 1);
        if (held !== undefined && held.length > 0) parts.push(held);
      }
      tail = parts.length === 0 ? '' : parts.length === 1 ? parts[0]! : Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    } catch {
      fail();
      return;
    }
    finish();
    res.end(tail);
  });
  source.once('error', fail);
  res.once('close', () => {
    if (!res.writableFinished) fail();
    else finish();
  });
}

/**
 * The whole of a short answer (at most `max` bytes), in a buffer of its own (masked in place
 * after), for the one-write path: undefined when it was longer (the source is then destroyed)
 * or failed.
 */
export function readWhole(source: Readable, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    source.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        source.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    source.once('end', () => resolve(Buffer.concat(chunks, size)));
    source.once('error', () => resolve(undefined));
  });
}
