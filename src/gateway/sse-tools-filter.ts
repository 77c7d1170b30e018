// Server-sent events of an MCP server (a POST answered as a stream, or the GET stream) passed
// on event by event, with the tools/list results filtered to the granted tools
// (mcp-judge.ts filterToolsList). Events that carry no such result go out byte for byte as they
// came. An event larger than the bound ends the stream: the filter holds one event at a time.
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { filterToolsList } from './mcp-judge.ts';

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/;

/** One event (its text up to and including the blank line that ends it), with its data filtered. */
export function rewriteEvent(event: string, granted: readonly string[]): string {
  // Only a result with a "tools" member is ever changed, and JSON can spell that key only
  // literally or with \u escapes: an event with neither is passed on unparsed (a tools/call's
  // answer, a notification).
  if (!event.includes('tools') && !event.includes('\\u')) return event;
  const m = /(\r\n|\n|\r)+$/.exec(event);
  const ending = m ? m[0] : '';
  const lines = event.slice(0, event.length - ending.length).split(/\r\n|\n|\r/);
  const data = lines.filter((l) => l.startsWith('data:')).map((l) => (l.startsWith('data: ') ? l.slice(6) : l.slice(5)));
  if (data.length === 0) return event;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch {
    return event;
  }
  const f = filterToolsList(parsed, granted);
  if (!f.changed) return event;
  const out: string[] = [];
  let placed = false;
  for (const l of lines) {
    if (!l.startsWith('data:')) out.push(l);
    else if (!placed) {
      out.push(`data: ${JSON.stringify(f.message)}`);
      placed = true;
    }
  }
  return `${out.join('\n')}${ending}`;
}

/** The filtering of one stream, chunk by chunk (what the gateway's relay calls): whole events out. */
export class SseRewriter {
  readonly #granted: readonly string[];
  readonly #maxEventBytes: number;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(granted: readonly string[], maxEventBytes = 8 * 1024 * 1024) {
    this.#granted = granted;
    this.#maxEventBytes = maxEventBytes;
  }

  /** The whole events the chunk completes, rewritten ('' when none); throws when an event grows past the bound. */
  push(chunk: Buffer): string {
    this.#pending += this.#decoder.write(chunk);
    let out = '';
    for (;;) {
      const m = BOUNDARY.exec(this.#pending);
      if (!m) break;
      const end = m.index + m[0].length;
      out += rewriteEvent(this.#pending.slice(0, end), this.#granted);
      this.#pending = this.#pending.slice(end);
    }
    if (this.#pending.length > this.#maxEventBytes) throw new Error('an event of the MCP stream is larger than the gateway reads');
    return out;
  }

  /** The last event, if the stream ended without its blank line. */
  end(): string {
    this.#pending += this.#decoder.end();
    const last = this.#pending === '' ? '' : rewriteEvent(this.#pending, this.#granted);
    this.#pending = '';
    return last;
  }
}

/** The same as a Transform stream. */
export class SseToolsFilter extends Transform {
  readonly #rewriter: SseRewriter;

  constructor(granted: readonly string[], maxEventBytes = 8 * 1024 * 1024) {
    super();
    this.#rewriter = new SseRewriter(granted, maxEventBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let out: string;
    try {
      out = this.#rewriter.push(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (out !== '') this.push(out);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const last = this.#rewriter.end();
    if (last !== '') this.push(last);
    callback();
  }
}
