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

export class CredentialMask extends Transform {
  readonly #secrets: Buffer[];
  readonly #hold: number;
  #tail: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[]) {
    super();
    this.#secrets = secrets.filter((s) => s.length > 0).map((s) => Buffer.from(s, 'utf8'));
    this.#hold = Math.max(0, ...this.#secrets.map((s) => s.length - 1));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#secrets.length === 0) {
      callback(null, chunk);
      return;
    }
    const buf = this.#tail.length > 0 ? Buffer.concat([this.#tail, chunk]) : Buffer.from(chunk);
    maskInPlace(buf, this.#secrets);
    const emit = buf.length - heldBack(buf, this.#secrets, this.#hold);
    this.#tail = buf.subarray(emit);
    callback(null, emit > 0 ? buf.subarray(0, emit) : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#tail.length > 0 ? this.#tail : undefined);
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
