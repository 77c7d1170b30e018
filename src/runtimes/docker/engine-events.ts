// A subscription to the Engine API's event stream (GET /events) that stays up: it parses the
// newline-delimited JSON as it arrives (an object may be split across chunks, or several may
// share one), and when the stream ends or cannot be opened it reconnects with capped backoff,
// asking for the events it missed (`since` = the last event seen) so a completion that
// happened while the engine was restarting is still reported.
import type Dockerode from 'dockerode';
import { Backoff } from '../../operator/backoff.ts';
import type { Logger } from '../../observability/logger.ts';

/** The fields of an Engine API event this project reads (Docker and podman agree on them). */
export interface EngineEvent {
  Type?: string;
  /** 'start', 'die', 'destroy' (podman: 'remove'), 'oom', 'stop', 'kill', ... */
  Action?: string;
  /** Older name of Action. */
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  /** Seconds since the epoch. */
  time?: number;
  timeNano?: number;
}

/** Splits a byte stream into JSON values, one per line. Malformed lines go to onError. */
export class JsonLines {
  #pending = '';
  readonly #decoder = new TextDecoder('utf-8');

  push(chunk: Buffer | string, onValue: (value: unknown) => void, onError?: (line: string, err: unknown) => void): void {
    this.#pending += typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = this.#pending.indexOf('\n')) >= 0) {
      const line = this.#pending.slice(0, nl).trim();
      this.#pending = this.#pending.slice(nl + 1);
      if (!line) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        onError?.(line, err);
        continue;
      }
      onValue(value);
    }
  }

  /** Unterminated text held back (an object still arriving). */
  get pending(): string {
    return this.#pending;
  }
}

export interface EngineEventSubscription {
  docker: Dockerode;
  /** Engine API filters, e.g. { type: ['container'], label: ['k=v'] }. */
  filters: Record<string, string[]>;
  onEvent: (event: EngineEvent) => void;
  logger: Logger;
  /** Reconnect delays (default 200 ms doubling to 10 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A connection that lived this long resets the backoff (default 5 s). */
  healthyAfterMs?: number;
  /** Called after each (re)connection is established; for tests and metrics. */
  onConnected?: (reconnect: boolean) => void;
}

/** Opens the stream and keeps it open until the returned function is called. */
export function subscribeEngineEvents(sub: EngineEventSubscription): () => void {
  const backoff = new Backoff({ initialMs: sub.minBackoffMs ?? 200, maxMs: sub.maxBackoffMs ?? 10_000, jitter: 0.2 });
  const healthyAfterMs = sub.healthyAfterMs ?? 5_000;
  let closed = false;
  let stream: NodeJS.ReadableStream | undefined;
  let timer: NodeJS.Timeout | undefined;
  /**
   * Where a reconnect resumes: the engine time (seconds) of the newest event seen (events of
   * that second repeat: harmless), else when the first connection opened (local clock).
   */
  let lastSeen: number | undefined;
  let firstOpened: number | undefined;
  let connections = 0;

  const retry = (why: string): void => {
    if (closed || timer) return;
    const delay = backoff.next();
    sub.logger.warn({ reason: why, retryInMs: Math.round(delay), failures: backoff.failures }, 'engine event stream lost; reconnecting');
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    const opts: { filters: Record<string, string[]>; since?: number } = { filters: sub.filters };
    const since = lastSeen ?? firstOpened;
    if (since !== undefined) opts.since = since;
    let s: NodeJS.ReadableStream;
    try {
      s = (await sub.docker.getEvents(opts)) as NodeJS.ReadableStream;
    } catch (err) {
      retry(err instanceof Error ? err.message : String(err));
      return;
    }
    if (closed) {
      destroy(s);
      return;
    }
    stream = s;
    const openedAt = Date.now();
    const reconnect = connections++ > 0;
    // From now on, a later reconnect replays from here even if no event arrives meanwhile.
    firstOpened ??= Math.floor(openedAt / 1000) - 1;
    sub.onConnected?.(reconnect);
    const lines = new JsonLines();
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      if (stream === s) stream = undefined;
      if (Date.now() - openedAt >= healthyAfterMs) backoff.reset();
      retry(why);
    };
    s.on('data', (chunk: Buffer | string) => {
      lines.push(
        chunk,
        (value) => {
          if (!value || typeof value !== 'object') return;
          const event = value as EngineEvent;
          if (typeof event.time === 'number') lastSeen = Math.max(lastSeen ?? 0, event.time);
          backoff.reset();
          try {
            sub.onEvent(event);
          } catch (err) {
            sub.logger.error({ err }, 'engine event handler failed');
          }
        },
        (line) => sub.logger.warn({ line: line.slice(0, 200) }, 'unparseable engine event'),
      );
    });
    s.on('end', () => end('stream ended'));
    s.on('close', () => end('stream closed'));
    s.on('error', (err: Error) => end(err.message));
  };

  void connect();
  return () => {
    closed = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (stream) destroy(stream);
    stream = undefined;
  };
}

function destroy(s: NodeJS.ReadableStream): void {
  const d = s as NodeJS.ReadableStream & { destroy?: () => void };
  d.destroy?.();
}
