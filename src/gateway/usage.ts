// Token usage out of provider responses, pure. What the gateway counts against the execution's
// `tokens` budget is what the provider reports, never an estimate:
//
//   OpenAI-compatible JSON     usage.total_tokens (else prompt_tokens + completion_tokens)
//   OpenAI-compatible stream   the chunk that carries `usage` (sent when the request has
//                              stream_options.include_usage, which the gateway adds)
//   Anthropic JSON             usage.input_tokens + usage.output_tokens (+ cache tokens)
//   Anthropic stream           message_start.message.usage + message_delta.usage
//
// The stream filter passes events through as they complete; it can drop the usage-only chunk
// the client did not ask for (the gateway added include_usage for itself), so clients that read
// choices[0] of every chunk keep working.

export interface Usage {
  tokens: number;
}

type Json = Record<string, unknown>;

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0;
}

/** Tokens in one `usage` object of either dialect; undefined when it is not a usage object. */
export function tokensOf(usage: unknown): number | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as Json;
  if (typeof u.total_tokens === 'number') return count(u.total_tokens);
  if (typeof u.prompt_tokens === 'number' || typeof u.completion_tokens === 'number') return count(u.prompt_tokens) + count(u.completion_tokens);
  if (typeof u.input_tokens === 'number' || typeof u.output_tokens === 'number') {
    return count(u.input_tokens) + count(u.output_tokens) + count(u.cache_creation_input_tokens) + count(u.cache_read_input_tokens);
  }
  return undefined;
}

/**
 * The value that follows the last `"usage":` key in a JSON text, parsed alone: a response body
 * can be large (embeddings), and usage is a small object near its end. Falls back to parsing
 * the whole text.
 */
export function usageFromJson(text: string): Usage | undefined {
  const at = text.lastIndexOf('"usage"');
  if (at >= 0) {
    const start = text.indexOf('{', at + 7);
    const between = start >= 0 ? text.slice(at + 7, start) : '';
    if (start >= 0 && /^\s*:\s*$/.test(between)) {
      const end = matchingBrace(text, start);
      if (end > start) {
        try {
          const tokens = tokensOf(JSON.parse(text.slice(start, end + 1)));
          if (tokens !== undefined) return { tokens };
        } catch {
          // fall through to the full parse
        }
      }
    }
  }
  try {
    const body = JSON.parse(text) as Json;
    const tokens = tokensOf(body?.usage);
    return tokens === undefined ? undefined : { tokens };
  } catch {
    return undefined;
  }
}

/** Index of the `}` closing the object that opens at `start`, skipping strings; -1 if none. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 /* { */) depth++;
    else if (c === 125 /* } */) {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

export interface SseFilterOptions {
  /** Drop OpenAI usage-only chunks (empty choices + usage): the client did not ask for them. */
  dropUsageChunks: boolean;
}

/**
 * Incremental SSE reader: feed it upstream text, get back the text to send on (whole events
 * only), and the usage seen so far. Works for both dialects.
 */
export class SseUsageFilter {
  readonly #opts: SseFilterOptions;
  #buffer = '';
  #openAiTokens: number | undefined;
  #anthropicInput = 0;
  #anthropicOutput = 0;
  #anthropicSeen = false;

  constructor(opts: SseFilterOptions) {
    this.#opts = opts;
  }

  /** Text to forward now (complete events), possibly empty. */
  push(chunk: string): string {
    this.#buffer += chunk;
    let out = '';
    for (;;) {
      const end = eventEnd(this.#buffer);
      if (end < 0) break;
      const event = this.#buffer.slice(0, end + separatorLength(this.#buffer, end));
      this.#buffer = this.#buffer.slice(event.length);
      if (this.#inspect(event)) out += event;
    }
    return out;
  }

  /** Whatever is left at the end of the stream (an unterminated last event). */
  flush(): string {
    const rest = this.#buffer;
    this.#buffer = '';
    if (rest.length > 0 && !this.#inspect(rest)) return '';
    return rest;
  }

  /** Tokens reported by the stream, or undefined when it carried no usage. */
  get usage(): Usage | undefined {
    if (this.#openAiTokens !== undefined) return { tokens: this.#openAiTokens };
    if (this.#anthropicSeen) return { tokens: this.#anthropicInput + this.#anthropicOutput };
    return undefined;
  }

  /** Reads usage out of one event; false when the event is to be dropped. */
  #inspect(event: string): boolean {
    if (!event.includes('"usage"')) return true;
    for (const line of event.split(/\r?\n/)) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (!data.startsWith('{')) continue;
      let obj: Json;
      try {
        obj = JSON.parse(data) as Json;
      } catch {
        continue;
      }
      if (obj.type === 'message_start') {
        const u = (obj.message as Json | undefined)?.usage as Json | undefined;
        if (u) {
          this.#anthropicSeen = true;
          this.#anthropicInput = count(u.input_tokens) + count(u.cache_creation_input_tokens) + count(u.cache_read_input_tokens);
          this.#anthropicOutput = Math.max(this.#anthropicOutput, count(u.output_tokens));
        }
        continue;
      }
      if (obj.type === 'message_delta') {
        const u = obj.usage as Json | undefined;
        if (u) {
          this.#anthropicSeen = true;
          // message_delta's output_tokens is cumulative.
          this.#anthropicOutput = Math.max(this.#anthropicOutput, count(u.output_tokens));
          if (typeof u.input_tokens === 'number') this.#anthropicInput = Math.max(this.#anthropicInput, count(u.input_tokens));
        }
        continue;
      }
      const tokens = tokensOf(obj.usage);
      if (tokens !== undefined) {
        this.#openAiTokens = tokens;
        const choices = obj.choices;
        if (this.#opts.dropUsageChunks && Array.isArray(choices) && choices.length === 0) return false;
      }
    }
    return true;
  }
}

/** Position of the blank line that ends the first event in text, or -1. */
function eventEnd(text: string): number {
  const lf = text.indexOf('\n\n');
  const crlf = text.indexOf('\r\n\r\n');
  if (lf < 0) return crlf;
  if (crlf < 0) return lf;
  return Math.min(lf, crlf);
}

function separatorLength(text: string, at: number): number {
  return text.startsWith('\r\n\r\n', at) ? 4 : 2;
}
