// The last bytes of a container's output, read without ever holding more than that.
//
// The Engine API sends the logs of a non-TTY container as frames: an 8-byte header
// [stream (1 stdout, 2 stderr), 0, 0, 0, size (u32 big-endian)] then `size` bytes. A container
// that printed 100 MB must not be buffered whole to find its last kilobytes, so LogTail parses
// frames as chunks arrive and keeps only the newest maxBytes of payload (memory: maxBytes plus
// one chunk). Text for humans then goes through sanitizeLogText (../log-text.ts).
import { sanitizeLogText } from '../log-text.ts';

/** Keeps the newest `maxBytes` of payload of an Engine API log stream (multiplexed or raw). */
export class LogTail {
  readonly maxBytes: number;
  #chunks: Buffer[] = [];
  #size = 0;
  /** True once bytes were dropped from the front: the first character may be cut. */
  #truncated = false;
  /** undefined until the first bytes tell whether the stream is framed (non-TTY) or raw (TTY). */
  #framed: boolean | undefined;
  #header = Buffer.alloc(8);
  #headerFill = 0;
  #frameRemaining = 0;

  constructor(maxBytes: number) {
    this.maxBytes = Math.max(0, Math.floor(maxBytes));
  }

  push(chunk: Buffer): void {
    if (this.#framed === undefined && chunk.length > 0) this.#framed = looksFramed(chunk);
    if (!this.#framed) {
      this.#keep(chunk);
      return;
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.#frameRemaining > 0) {
        const n = Math.min(this.#frameRemaining, chunk.length - i);
        this.#keep(chunk.subarray(i, i + n));
        this.#frameRemaining -= n;
        i += n;
        continue;
      }
      const n = Math.min(8 - this.#headerFill, chunk.length - i);
      chunk.copy(this.#header, this.#headerFill, i, i + n);
      this.#headerFill += n;
      i += n;
      if (this.#headerFill === 8) {
        this.#frameRemaining = this.#header.readUInt32BE(4);
        this.#headerFill = 0;
      }
    }
  }

  /** Payload bytes seen so far were more than maxBytes. */
  get truncated(): boolean {
    return this.#truncated;
  }

  /** The newest payload bytes, at most maxBytes. */
  bytes(): Buffer {
    const all = Buffer.concat(this.#chunks, this.#size);
    return all.length > this.maxBytes ? all.subarray(all.length - this.maxBytes) : all;
  }

  /** bytes() as sanitised text of at most maxBytes UTF-8 bytes. */
  text(): string {
    const bytes = this.bytes();
    return sanitizeLogText(bytes, { maxBytes: this.maxBytes, cutAtStart: this.#truncated || bytes.length < this.#size });
  }

  #keep(part: Buffer): void {
    if (part.length === 0 || this.maxBytes === 0) {
      if (part.length > 0) this.#truncated = true;
      return;
    }
    // Copy: a subarray would pin the whole socket chunk it came from.
    const slice = part.length > this.maxBytes ? part.subarray(part.length - this.maxBytes) : part;
    if (slice.length < part.length) this.#truncated = true;
    this.#chunks.push(Buffer.from(slice));
    this.#size += slice.length;
    while (this.#chunks.length > 1 && this.#size - this.#chunks[0]!.length >= this.maxBytes) {
      this.#size -= this.#chunks.shift()!.length;
      this.#truncated = true;
    }
  }
}

/** A multiplexed stream starts with a header [0|1|2, 0, 0, 0, ...]; a TTY stream with text. */
function looksFramed(chunk: Buffer): boolean {
  const first = chunk[0]!;
  if (first > 2) return false;
  for (let i = 1; i < Math.min(4, chunk.length); i++) if (chunk[i] !== 0) return false;
  return true;
}
