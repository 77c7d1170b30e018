// A connector's answer relayed to the agent with the credential masked: an upstream that
// echoes request headers (a debugging endpoint, an error page quoting them) must not hand the
// agent what the gateway injected. Each occurrence is overwritten with '*' of the same byte
// length, so Content-Length stays true. The end of a chunk that could begin a credential is held
// back until the next chunk (so an occurrence split across chunks is caught too); nothing else
// is, so a stream's events are not delayed. A compressed answer would hide
// it: connector requests ask for identity encoding (connector-plan.ts).
import { Transform, type TransformCallback } from 'node:stream';

/** Masks every occurrence of the secrets in buf, in place; returns how many were masked. */
export function maskInPlace(buf: Buffer, secrets: readonly Buffer[]): number {
  let n = 0;
  for (const s of secrets) {
    if (s.length === 0) continue;
    let at = buf.indexOf(s);
    while (at >= 0) {
      buf.fill(0x2a, at, at + s.length);
      n++;
      at = buf.indexOf(s, at + s.length);
    }
  }
  return n;
}

/**
 * The masking of one answer, chunk by chunk (what the gateway's relay calls; no stream
 * machinery per answer): push each chunk, then end; each returns what may go out now.
 */
export class Masker {
  readonly #secrets: Buffer[];
  readonly #hold: number;
  #tail: Buffer | undefined;

  constructor(secrets: readonly string[]) {
    this.#secrets = secrets.filter((s) => s.length > 0).map((s) => Buffer.from(s, 'utf8'));
    this.#hold = this.#secrets.length === 0 ? 0 : Math.max(0, ...this.#secrets.map((s) => s.length - 1));
  }

  /** Whether there is anything to mask at all. */
  get active(): boolean {
    return this.#secrets.length > 0;
  }

  /** The chunk masked (in a copy: chunks may share memory with others), less what it holds back; undefined when it holds all. */
  push(chunk: Buffer): Buffer | undefined {
    if (this.#secrets.length === 0) return chunk;
    const buf = this.#tail !== undefined ? Buffer.concat([this.#tail, chunk]) : Buffer.from(chunk);
    maskInPlace(buf, this.#secrets);
    const emit = buf.length - heldBack(buf, this.#secrets, this.#hold);
    this.#tail = emit < buf.length ? buf.subarray(emit) : undefined;
    return emit > 0 ? buf.subarray(0, emit) : undefined;
  }

  /** What was held back, at the end of the answer. */
  end(): Buffer | undefined {
    const t = this.#tail;
    this.#tail = undefined;
    return t;
  }
}

/** The same as a Transform stream. */
export class CredentialMask extends Transform {
  readonly #masker: Masker;

  constructor(secrets: readonly string[]) {
    super();
    this.#masker = new Masker(secrets);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, this.#masker.push(chunk));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#masker.end());
  }
}

/** How many bytes at the end of buf are a proper prefix of a secret (at most hold). */
export function heldBack(buf: Buffer, secrets: readonly Buffer[], hold: number): number {
  for (let k = Math.min(hold, buf.length); k > 0; k--) {
    const end = buf.subarray(buf.length - k);
    if (secrets.some((s) => s.length > k && s.subarray(0, k).equals(end))) return k;
  }
  return 0;
}
