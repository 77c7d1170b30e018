// The one logger factory: pino JSON lines, with secret-looking fields redacted before they are
// serialized. Redaction is by key name, because the operator logs objects it did not build
// (API errors, request options, spec fragments) and cannot know every place a token hides.
//
// pino's redact paths are not recursive: '*.token' matches exactly one level down ('a.token',
// not 'a.b.token'). So each key is listed at every depth up to REDACT_DEPTH, which covers the
// shapes we log ({ err: { body: { ... } } }, { req: { headers: { authorization } } }).
// Text inside a message string is not redacted: never interpolate secrets into messages.
import pino from 'pino';
import type { DestinationStream, Logger, LoggerOptions as PinoOptions } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log, at any depth up to REDACT_DEPTH. */
export const SECRET_KEYS = [
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'bearerToken',
  'password',
  'passwd',
  'secret',
  'clientSecret',
  'client_secret',
  'apiKey',
  'api_key',
  'apikey',
  'privateKey',
  'private_key',
  'authorization',
  'Authorization',
  'proxy-authorization',
  'Proxy-Authorization',
  'x-api-key',
  'X-Api-Key',
  'cookie',
  'Cookie',
  'set-cookie',
  'Set-Cookie',
  'credentials',
  'credential',
] as const;

export const REDACT_DEPTH = 5;
export const REDACTED = '[REDACTED]';

function pathFor(key: string, depth: number): string {
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const prefix = '*.'.repeat(depth);
  return segment.startsWith('[') ? `${prefix.slice(0, -1)}${segment}` : `${prefix}${segment}`;
}

/** Every redact path the logger uses, e.g. 'token', '*.token', '*.*.token', '*["set-cookie"]'. */
export function redactPaths(keys: readonly string[] = SECRET_KEYS, depth = REDACT_DEPTH): string[] {
  const paths: string[] = [];
  for (let d = 0; d <= depth; d++) for (const key of keys) paths.push(pathFor(key, d));
  return paths;
}

export interface LoggerOptions {
  /** Default: LOG_LEVEL or 'info'. */
  level?: string;
  /** 'json' (default) for machines; 'dev' for a terminal: one short readable line per record. */
  format?: 'json' | 'dev';
  /** Where lines go (default stdout). Tests pass a collecting stream. */
  destination?: DestinationStream;
  /** Bound to every record, e.g. { component: 'controller' }. */
  base?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const options: PinoOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: redactPaths(), censor: REDACTED },
    timestamp: pino.stdTimeFunctions.isoTime,
    // pid/hostname repeat on every line and say nothing in a pod; keep only what is passed.
    base: opts.base ?? null,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
  };
  const out = opts.destination ?? pino.destination({ dest: 1, sync: false });
  if (opts.format === 'dev') return pino(options, devStream(out));
  return pino(options, out);
}

/**
 * pino's error serializer, minus what client-node's ApiException packs into its message: the
 * whole response body and headers as JSON text ("HTTP-Code: 401\nMessage: ...\nBody: {...}"),
 * where key-based redaction cannot reach. The body stays available as err.body, redacted by key.
 */
export function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!out || typeof out !== 'object') return out;
  if (typeof out.message === 'string') {
    const cut = out.message.indexOf('\nBody: ');
    if (cut < 0) return out;
    out.message = out.message.slice(0, cut).replace(/\n/g, ' ');
    if (typeof out.stack === 'string') {
      const frames = out.stack.split('\n').filter((l) => /^\s+at /.test(l));
      out.stack = [`${String(out.type ?? 'Error')}: ${out.message}`, ...frames].join('\n');
    }
  }
  return out;
}

/** A logger that drops everything: the default for library code and tests that do not look. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const RESERVED = new Set(['level', 'time', 'msg']);

/**
 * Turns pino's JSON lines into "12:00:01.123 INFO  msg key=value ...". It sits after pino's
 * serializer, so it only ever sees already-redacted records.
 */
export function devStream(out: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      out.write(formatDevLine(line));
    },
  };
}

export function formatDevLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : '';
  const level = String(rec.level ?? '').toUpperCase().padEnd(5);
  const fields = Object.entries(rec)
    .filter(([k]) => !RESERVED.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level} ${String(rec.msg ?? '')}${fields ? ` ${fields}` : ''}\n`;
}
