// How each provider kind is spoken to: where its API paths live under the binding's endpoint,
// how the credential is presented, and how to ask which models it serves (the probe).
//
//   openai-compatible  {endpoint}[/v1]/chat/completions ...   Authorization: Bearer <key>
//                      models: GET [/v1]/models → { data: [{ id }] }
//   ollama             same OpenAI-compatible paths (Ollama serves /v1/*); key optional
//                      models: GET /api/tags → { models: [{ name, model }] }
//   anthropic          {endpoint}[/v1]/messages                 x-api-key: <key>, anthropic-version
//                      models: GET [/v1]/models → { data: [{ id }] }
//
// An endpoint may be given with or without its trailing /v1 (https://api.openai.com/v1 and
// http://127.0.0.1:11434 both work). Credential values are only ever put into request headers.
import http from 'node:http';
import https from 'node:https';
import type { ModelProviderBindingSpec } from '../api/types.generated.ts';

export type Provider = ModelProviderBindingSpec['provider'];

export const ANTHROPIC_VERSION = '2023-06-01';

export interface Upstream {
  url: URL;
  /** Path prefix ending before /v1 (no trailing slash). */
  basePath: string;
}

/** The endpoint split into origin and the path that precedes /v1. */
export function upstreamOf(endpoint: string): Upstream {
  const url = new URL(endpoint);
  let basePath = url.pathname.replace(/\/+$/, '');
  if (basePath.endsWith('/v1')) basePath = basePath.slice(0, -3);
  return { url, basePath };
}

/** Full path of an API path (`/v1/...`) on the upstream. */
export function upstreamPath(up: Upstream, apiPath: string): string {
  return `${up.basePath}${apiPath}`;
}

/** Headers that present the credential to the provider. */
export function credentialHeaders(provider: Provider, credential: string | undefined): Record<string, string> {
  if (credential === undefined || credential === '') return provider === 'anthropic' ? { 'anthropic-version': ANTHROPIC_VERSION } : {};
  if (provider === 'anthropic') return { 'x-api-key': credential, 'anthropic-version': ANTHROPIC_VERSION };
  return { authorization: `Bearer ${credential}` };
}

/** API paths the gateway forwards for a provider. */
export function servesPath(provider: Provider, apiPath: string): boolean {
  if (provider === 'anthropic') return apiPath === '/v1/messages';
  return apiPath === '/v1/chat/completions' || apiPath === '/v1/completions' || apiPath === '/v1/embeddings';
}

export interface ProbeResult {
  reachable: boolean;
  /** CamelCase: Reachable, ConnectionFailed, Timeout, CredentialRejected, HttpError, BadResponse. */
  reason: string;
  /** Never contains the credential or the response body. */
  message: string;
  models: string[];
  modelAvailable: boolean;
}

export interface ProbeOptions {
  timeoutMs?: number;
}

/** Asks the endpoint which models it serves and whether `model` is one of them. */
export async function probeEndpoint(spec: Pick<ModelProviderBindingSpec, 'provider' | 'endpoint' | 'model'>, credential: string | undefined, opts: ProbeOptions = {}): Promise<ProbeResult> {
  let up: Upstream;
  try {
    up = upstreamOf(spec.endpoint);
  } catch {
    return { reachable: false, reason: 'BadEndpoint', message: 'endpoint is not a valid URL', models: [], modelAvailable: false };
  }
  const path = spec.provider === 'ollama' ? `${up.basePath}/api/tags` : upstreamPath(up, '/v1/models');
  const where = `${up.url.protocol}//${up.url.host}${path}`;
  let answer: { status: number; body: string };
  try {
    answer = await getText(up.url, path, credentialHeaders(spec.provider, credential), opts.timeoutMs ?? 5_000);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.name === 'TimeoutError') return { reachable: false, reason: 'Timeout', message: `GET ${where}: no answer within ${opts.timeoutMs ?? 5_000} ms`, models: [], modelAvailable: false };
    return { reachable: false, reason: 'ConnectionFailed', message: `GET ${where}: ${e.code ?? e.message}`, models: [], modelAvailable: false };
  }
  if (answer.status === 401 || answer.status === 403) {
    return { reachable: false, reason: 'CredentialRejected', message: `GET ${where}: HTTP ${answer.status}: the provider rejected the credential`, models: [], modelAvailable: false };
  }
  if (answer.status < 200 || answer.status >= 300) {
    return { reachable: false, reason: 'HttpError', message: `GET ${where}: HTTP ${answer.status}`, models: [], modelAvailable: false };
  }
  const models = modelsOf(spec.provider, answer.body);
  if (models === undefined) return { reachable: false, reason: 'BadResponse', message: `GET ${where}: the answer is not a model list`, models: [], modelAvailable: false };
  const available = models.includes(spec.model) || (spec.provider === 'ollama' && !spec.model.includes(':') && models.includes(`${spec.model}:latest`));
  return {
    reachable: true,
    reason: 'Reachable',
    message: `GET ${where}: ${models.length} model(s) served${available ? `, including ${spec.model}` : `; ${spec.model} is not one of them`}`,
    models,
    modelAvailable: available,
  };
}

function modelsOf(provider: Provider, body: string): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const obj = parsed as { data?: unknown; models?: unknown };
  if (provider === 'ollama') {
    if (!Array.isArray(obj?.models)) return undefined;
    return obj.models.flatMap((m: { name?: unknown; model?: unknown }) => [m?.name, m?.model]).filter((n): n is string => typeof n === 'string').filter((n, i, all) => all.indexOf(n) === i);
  }
  if (!Array.isArray(obj?.data)) return undefined;
  return obj.data.map((m: { id?: unknown }) => m?.id).filter((id): id is string => typeof id === 'string');
}

function getText(url: URL, path: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || undefined, path, method: 'GET', agent: false, headers: { accept: 'application/json', ...headers }, signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 4 * 1024 * 1024) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(err.name === 'AbortError' ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : err));
    req.end();
  });
}
