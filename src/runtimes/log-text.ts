// Container output as text a human (or a status field) can safely show: valid UTF-8, no
// terminal escapes, no control characters besides \n and \t. Both runtimes' log tails end here
// (docker/log-tail.ts after demultiplexing the Engine API's frames, kubernetes/log-tail.ts after
// the pods/log API). Secrets are not redacted here: the caller knows the values and does that.

export interface SanitizeOptions {
  /** Upper bound of the result in UTF-8 bytes (oldest text is dropped). Default: unbounded. */
  maxBytes?: number;
  /** The bytes were cut from a longer output: drop a partial UTF-8 character at the start. */
  cutAtStart?: boolean;
}

// Terminal escape sequences (ECMA-48): CSI (ESC [ ... final, or the 8-bit CSI U+009B), OSC
// (ESC ] ... BEL or ST), DCS/SOS/PM/APC strings (ESC P|X|^|_ ... ST), character-set
// designations (ESC ( B) and other two-character escapes (ESC 7, ESC =, ...).
const ESCAPES = new RegExp(
  [
    '(?:\\x1b\\[|\\u009b)[0-?]*[ -/]*[@-~]',
    '\\x1b\\][^\\x07\\x1b]*(?:\\x07|\\x1b\\\\)?',
    '\\x1b[PX^_][^\\x1b]*(?:\\x1b\\\\)?',
    '\\x1b[()*+\\-./][ -~]',
    '\\x1b[ -~]',
  ].join('|'),
  'g',
);
// C0 controls except \t and \n (so also \r and a lone ESC), DEL, C1 controls, and the Unicode
// bidirectional overrides/isolates, which can make a log line read differently than it is.
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Output bytes as text a human (or a status field) can safely show: invalid UTF-8 replaced by
 * U+FFFD, terminal escape sequences and control characters other than \n and \t removed.
 */
export function sanitizeLogText(bytes: Buffer, opts: SanitizeOptions = {}): string {
  let start = 0;
  // Skip the continuation bytes (10xxxxxx) of a character whose lead byte was cut off.
  if (opts.cutAtStart) while (start < Math.min(3, bytes.length) && (bytes[start]! & 0xc0) === 0x80) start++;
  let text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(start));
  text = text.replace(ESCAPES, '').replace(CONTROLS, '');
  return opts.maxBytes === undefined ? text : lastUtf8Bytes(text, opts.maxBytes);
}

/** The longest suffix of text whose UTF-8 encoding fits in maxBytes (never splits a character). */
export function lastUtf8Bytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  if (maxBytes <= 0) return '';
  const buf = Buffer.from(text, 'utf8');
  let start = buf.length - maxBytes;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}
