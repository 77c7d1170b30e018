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

export class SseToolsFilter extends Transform {
  readonly #granted: readonly string[];
  readonly #maxEventBytes: number;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(granted: readonly string[], maxEventBytes = 8 * 1024 * 1024) {
    super();
    this.#granted = granted;
    this.#maxEventBytes = maxEventBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending += this.#decoder.write(chunk);
    for (;;) {
      const m = BOUNDARY.exec(this.#pending);
      if (!m) break;
      const end = m.index + m[0].length;
      this.push(rewriteEvent(this.#pending.slice(0, end), this.#granted));
      this.#pending = this.#pending.slice(end);
    }
    callback(this.#pending.length > this.#maxEventBytes ? new Error('an event of the MCP stream is larger than the gateway reads') : null);
  }

  override _flush(callback: TransformCallback): void {
    this.#pending += this.#decoder.end();
    if (this.#pending !== '') this.push(rewriteEvent(this.#pending, this.#granted));
    callback();
  }
}
