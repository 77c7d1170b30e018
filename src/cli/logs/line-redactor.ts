// Followed output, redacted before a byte of it is printed. The redactor works on text it can
// see whole, so output is handed on in complete lines: a partial line waits for its newline (or
// the end of the stream), and the lines of a PEM private key block wait for its END line, so
// neither a secret value nor a key can be split across two redactions. Pure.
import { redact } from '../../redaction/redactor.ts';
import { SecretSet } from '../../redaction/secret-set.ts';

/** Held text is redacted and let go past this many characters even without a newline (bounded memory). */
export const MAX_HELD_CHARS = 256 * 1024;

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const PEM_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;

export class LineRedactor {
  readonly #secrets: SecretSet;
  #held = '';
  /** Lines that failed to redact (dropped, never printed). */
  dropped = 0;

  /** secretValues: the values of the Secrets the container's environment names. */
  constructor(secretValues: Iterable<string> = []) {
    this.#secrets = new SecretSet(secretValues);
  }

  /** Takes more output; returns what may be printed now (redacted), possibly ''. */
  push(text: string): string {
    this.#held += text;
    const cut = this.#releasable();
    if (cut === 0) return '';
    const out = this.#held.slice(0, cut);
    this.#held = this.#held.slice(cut);
    return this.#redact(out);
  }

  /** The stream ended: everything held, redacted. */
  end(): string {
    const out = this.#held;
    this.#held = '';
    return out === '' ? '' : this.#redact(out);
  }

  /** How much of the held text is complete lines outside an unfinished private key block. */
  #releasable(): number {
    const held = this.#held;
    if (held.length > MAX_HELD_CHARS) return held.length;
    const lastNewline = held.lastIndexOf('\n');
    if (lastNewline < 0) return 0;
    const complete = held.slice(0, lastNewline + 1);
    const begin = lastMatch(complete, PEM_BEGIN);
    if (begin >= 0 && lastMatch(complete, PEM_END) < begin) return begin === 0 ? 0 : complete.lastIndexOf('\n', begin) + 1;
    return complete.length;
  }

  #redact(text: string): string {
    const r = redact(text, { secretSet: this.#secrets });
    if (r.ok) return r.text;
    // Fail closed: what the redactor cannot vouch for is not printed.
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    this.dropped += lines;
    return `[agent-machine: ${lines} line(s) dropped: the redactor could not vouch for them]\n`;
  }
}

function lastMatch(text: string, re: RegExp): number {
  let at = -1;
  const g = new RegExp(re.source, 'g');
  for (let m = g.exec(text); m; m = g.exec(text)) at = m.index;
  return at;
}
