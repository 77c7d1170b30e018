// The last bytes of a Pod's log through the pods/log API, which can only cut from the front:
// `tailLines=N` picks the last N lines, then `limitBytes=B` keeps the FIRST B bytes of those.
// So "the last maxBytes" is found by adjusting N: fewer lines while the window overflows the
// byte cap (we would be reading its beginning, not its end), more lines while it holds less
// than maxBytes and the log has more. A few requests at most; each transfers at most the cap.
//
// The text is made safe to store in a status field: ANSI escape sequences and control
// characters (except newline and tab) are removed. Secrets are not redacted here: the caller
// does that, it knows the values.
import { sanitizeLogText } from '../log-text.ts';

/** Fetches `tailLines` lines, cut to `limitBytes` bytes from their start. */
export type LogFetch = (tailLines: number, limitBytes: number) => Promise<string>;

const MAX_ATTEMPTS = 10;
/** A first guess of the average line length. */
const BYTES_PER_LINE = 80;
const MAX_LINES = 1_000_000;

export async function tailLog(fetch: LogFetch, maxBytes: number): Promise<string> {
  if (!(maxBytes > 0)) return '';
  const cap = Math.max(maxBytes * 4, 4096);
  // Search over the line count: `fits` lines come back under the cap (fitsText is them),
  // `overflows` lines do not.
  let fits = 0;
  let fitsText = '';
  let overflows = Infinity;
  let lines = Math.min(MAX_LINES, Math.max(1, Math.ceil(maxBytes / BYTES_PER_LINE)));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const text = await fetch(lines, cap);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes >= cap) {
      // Cut at the cap: this is the beginning of the window, its end is missing.
      overflows = lines;
      if (lines === 1) return lastBytes(sanitizeLog(text), maxBytes); // one huge last line: its start is all there is
    } else {
      fits = lines;
      fitsText = text;
      // Enough bytes, or fewer lines than asked for (the whole log).
      if (bytes >= maxBytes || lineCount(text) < lines || lines >= MAX_LINES) break;
    }
    if (overflows - fits <= 1) break;
    if (overflows === Infinity) lines = Math.min(MAX_LINES, fits * 4);
    else if (fits === 0) lines = Math.max(1, Math.floor(overflows / 4));
    else lines = Math.floor((fits + overflows) / 2);
  }
  return lastBytes(sanitizeLog(fitsText), maxBytes);
}

function lineCount(text: string): number {
  if (text.length === 0) return 0;
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return text.endsWith('\n') ? n : n + 1;
}

/** The last maxBytes bytes of text, without a broken UTF-8 sequence at the start. */
export function lastBytes(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let start = buf.length - maxBytes;
  // Skip continuation bytes (10xxxxxx) so the slice starts on a character boundary.
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/** The docker runtime's sanitiser, for text the API server already decoded. */
export function sanitizeLog(text: string): string {
  return sanitizeLogText(Buffer.from(text, 'utf8'));
}
