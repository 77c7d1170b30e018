// The gateway's upstream calls: one undici Agent (a keep-alive connection pool per provider
// origin) for every binding, so consecutive calls to a provider reuse their connections.
//
// A plan names the endpoint and the API path; the endpoint's origin and the path before /v1
// are worked out once per endpoint (provider.ts) and remembered. Errors keep the socket's code
// (ECONNREFUSED, ...), and a provider that stays silent for the idle timeout is ETIMEDOUT, as
// the messages of the gateway have always said.
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { upstreamOf, upstreamPath, type Upstream } from './provider.ts';

export interface UpstreamRequest {
  endpoint: string;
  /** The API path, `/v1/...`. */
  path: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: Buffer;
  /** Aborts the call (the client went away). */
  signal?: AbortSignal;
}

export type UpstreamResponse = Dispatcher.ResponseData;

const TIMEOUT_CODES: Record<string, string> = { UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT', UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT', UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT' };

export class UpstreamClient {
  readonly #agent: Agent;
  readonly #upstreams = new Map<string, Upstream>();

  /** idleTimeoutMs: how long a provider may stay silent (before its answer, or between chunks). */
  constructor(opts: { idleTimeoutMs: number }) {
    this.#agent = new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: opts.idleTimeoutMs, bodyTimeout: opts.idleTimeoutMs, connect: { timeout: opts.idleTimeoutMs } });
  }

  /** Sends the request; resolves with the status, headers and a body stream (consume or destroy it). */
  request(r: UpstreamRequest): Promise<UpstreamResponse> {
    const up = this.#upstream(r.endpoint);
    return this.#agent.request({ origin: up.url.origin, path: upstreamPath(up, r.path), method: r.method, headers: r.headers, body: r.body ?? null, signal: r.signal ?? null });
  }

  /**
   * A connector call: any origin, any method, the path as given, the body streamed from the
   * agent's request (undici relays it as it arrives: nothing large is held in memory).
   */
  forward(r: { origin: string; path: string; method: string; headers: Record<string, string | string[]>; body: Buffer | Readable | null; signal?: AbortSignal }): Promise<UpstreamResponse> {
    return this.#agent.request({ origin: r.origin, path: r.path, method: r.method as Dispatcher.HttpMethod, headers: r.headers, body: r.body, signal: r.signal ?? null });
  }

  close(): Promise<void> {
    return this.#agent.destroy();
  }

  #upstream(endpoint: string): Upstream {
    let up = this.#upstreams.get(endpoint);
    if (!up) {
      up = upstreamOf(endpoint);
      if (this.#upstreams.size > 1024) this.#upstreams.clear();
      this.#upstreams.set(endpoint, up);
    }
    return up;
  }
}

/** The code an upstream failure is reported with (ECONNREFUSED, ETIMEDOUT, ...). */
export function upstreamErrorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return 'error';
  return TIMEOUT_CODES[code] ?? code;
}
