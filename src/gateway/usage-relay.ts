// Passes a provider's answer to the agent and settles the call's budget reservation once:
// committed with the tokens the provider reported (JSON usage, or the usage chunk of a stream),
// or released when the provider refused or failed before answering.
//
//   401/403        the provider refused the binding's credential: a 502 that says only that
//   other non-2xx  the provider's error body, with every known credential value scrubbed
//   event stream   passed on chunk by chunk; usage read as it goes (usage.ts), the usage-only
//                  chunk dropped when the gateway (not the client) asked for it
//   JSON           small answers (most completions) go out in one write once complete (one
//                  syscall instead of one per chunk); large ones (embeddings of many inputs)
//                  chunk by chunk; usage read at the end
//
// A provider that breaks off, or a client that goes away, mid-answer: what was reported is
// counted and the agent's connection is closed.
import type { ServerResponse } from 'node:http';
import type { Refusal } from './gates.ts';
import type { Reservation } from './ledger.ts';
import type { UpstreamResponse } from './upstream.ts';
import { SseUsageFilter, usageFromJson } from './usage.ts';

/** Response headers of the provider that are not passed on. */
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie', 'openai-organization', 'openai-project', 'content-length', 'content-encoding']);
/** JSON answers up to this size are sent in one write once complete. */
const SMALL_BODY_BYTES = 256 * 1024;
/** How much of a provider's error body is passed on. */
const ERROR_BODY_BYTES = 1024 * 1024;

/** A budget reservation settled at most once, whichever of release and commit comes first. */
export class Settlement {
  readonly #reservation: Extract<Reservation, { ok: true }>;
  readonly #counted: (tokens: number) => void;
  #settled = false;

  constructor(reservation: Extract<Reservation, { ok: true }>, counted: (tokens: number) => void) {
    this.#reservation = reservation;
    this.#counted = counted;
  }

  release(): void {
    if (!this.#settled) this.#reservation.release();
    this.#settled = true;
  }

  commit(tokens: number): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reservation.commit(tokens);
    if (tokens > 0) this.#counted(tokens);
  }
}

export interface RelayOptions {
  settlement: Settlement;
  /** The gateway added include_usage to the stream: drop the usage-only chunk. */
  addedUsage: boolean;
  /** Credential values scrubbed from the provider's error bodies. */
  secrets(): ReadonlyArray<string | undefined>;
  /** Answers with a refusal (and counts it). */
  refuse(refusal: Refusal): void;
  /** An answer was passed on with this status (counted); tokens reported, 0 when none. */
  answered(status: number, tokens: number): void;
}

export function relayModelAnswer(up: UpstreamResponse, res: ServerResponse, o: RelayOptions): void {
  const { body, statusCode: status, headers } = up;
  const { settlement } = o;
  let ended = false;
  body.on('end', () => (ended = true));
  // Errors of the response stream end in 'close' (handled below); never an uncaught 'error'.
  body.on('error', () => undefined);

  if (status === 401 || status === 403) {
    body.resume();
    settlement.release();
    return o.refuse({ status: 502, type: 'api_error', code: 'upstream_auth_failed', message: `the model provider refused the binding's credential (HTTP ${status})` });
  }
  if (status < 200 || status >= 300) {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= ERROR_BODY_BYTES) chunks.push(c);
    });
    body.on('end', () => {
      settlement.release();
      const text = scrub(Buffer.concat(chunks).toString('utf8'), o.secrets());
      o.answered(status, 0);
      res.writeHead(status, { 'content-type': String(headers['content-type'] ?? 'application/json') }).end(text);
    });
    body.on('close', () => {
      if (!ended) (settlement.release(), res.destroy());
    });
    return;
  }

  const outHeaders: Record<string, string | string[]> = {};
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined && !DROPPED_RESPONSE_HEADERS.has(k)) outHeaders[k] = v;
  }
  const contentType = String(headers['content-type'] ?? '');
  if (contentType.includes('text/event-stream')) {
    const filter = new SseUsageFilter({ dropUsageChunks: o.addedUsage });
    res.writeHead(status, outHeaders);
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      const out = filter.push(chunk);
      if (out.length > 0) res.write(out);
    });
    body.on('end', () => {
      res.end(filter.flush());
      const tokens = filter.usage?.tokens ?? 0;
      settlement.commit(tokens);
      o.answered(status, tokens);
    });
    body.on('close', () => {
      if (!ended) (settlement.commit(filter.usage?.tokens ?? 0), res.destroy());
    });
    return;
  }

  const length = headers['content-length'];
  if (length !== undefined) outHeaders['content-length'] = length;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined) outHeaders['content-encoding'] = encoding;
  const whole = length !== undefined && Number(length) <= SMALL_BODY_BYTES;
  if (!whole) res.writeHead(status, outHeaders);
  const chunks: Buffer[] = [];
  body.on('data', (c: Buffer) => {
    chunks.push(c);
    if (!whole) res.write(c);
  });
  body.on('end', () => {
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (whole) res.writeHead(status, outHeaders).end(all);
    else res.end();
    const usage = encoding === undefined || encoding === 'identity' ? usageFromJson(all.toString('utf8')) : undefined;
    const tokens = usage?.tokens ?? 0;
    settlement.commit(tokens);
    o.answered(status, tokens);
  });
  body.on('close', () => {
    if (!ended) (settlement.commit(0), res.destroy());
  });
}

/** Removes every occurrence of the given secret values (and their base64 forms). */
export function scrub(text: string, values: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const v of values) {
    if (!v || v.length < 4) continue;
    for (const form of [v, Buffer.from(v).toString('base64')]) if (out.includes(form)) out = out.split(form).join('[REDACTED]');
  }
  return out;
}
