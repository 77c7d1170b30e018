// An OpenAI-compatible model server for tests and benchmarks: the one stand-in the gateway
// tests use, because hosted providers cannot be reached from here. It speaks the wire format
// real clients and the gateway see:
//
//   GET  /v1/models                 { object: 'list', data: [{ id, object: 'model', ... }] }
//   GET  /api/tags                  Ollama's model list { models: [{ name, model }] }
//   POST /v1/chat/completions       chat.completion, or SSE chat.completion.chunk events; with
//                                   stream_options.include_usage a final chunk with empty
//                                   choices and usage, then `data: [DONE]`
//   POST /v1/completions            text_completion (streaming too)
//   POST /v1/embeddings             list of embedding vectors, usage { prompt_tokens, total_tokens }
//   POST /v1/messages               Anthropic Messages (x-api-key), JSON or SSE events
//
// Usage is computed from the text like a tokenizer would roughly count it (one token per four
// characters, at least one per word-ish piece) so different prompts give different, realistic
// numbers; the completion is deterministic and echoes part of the last user message. Every
// request's Authorization / x-api-key header and JSON body are recorded (unless record: false).
// Wrong or missing credentials get a 401 whose message does not echo the key.
//
// Standalone (benchmarks): node test/support/openai-test-server.ts [--port N] [--api-key K] [--delay-ms D]
// prints {"url": ...} on stdout and serves until killed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  apiKey?: string;
  body?: any;
}

export interface OpenAiTestServerOptions {
  /** Required credential (Bearer for OpenAI paths, x-api-key for /v1/messages); none when absent. */
  apiKey?: string;
  models?: string[];
  host?: string;
  port?: number;
  /** Keep every request (default true). */
  record?: boolean;
  /** Answer each model call this much later, like a provider that takes time to generate (default 0). */
  delayMs?: number;
}

export interface OpenAiTestServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Roughly what a BPE tokenizer counts: one token per 4 characters of each word-ish piece. */
export function countTokens(text: string): number {
  let n = 0;
  for (const piece of text.split(/\s+/)) if (piece.length > 0) n += Math.ceil(piece.length / 4);
  return n;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
  return '';
}

function completionFor(lastUser: string, maxTokens: unknown): string {
  const echo = lastUser.slice(0, 60);
  const words = `Hello from the test model. You said: ${echo}`.split(' ');
  const limit = typeof maxTokens === 'number' && maxTokens > 0 ? maxTokens : Infinity;
  const out: string[] = [];
  let tokens = 0;
  for (const w of words) {
    const t = countTokens(w);
    if (tokens + t > limit) break;
    out.push(w);
    tokens += t;
  }
  return out.join(' ');
}

function embeddingOf(text: string): number[] {
  const v = new Array<number>(8).fill(0);
  for (let i = 0; i < text.length; i++) v[i % 8]! += text.charCodeAt(i) / 1000;
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

export async function startOpenAiTestServer(opts: OpenAiTestServerOptions = {}): Promise<OpenAiTestServer> {
  const models = opts.models ?? ['test-model'];
  const requests: RecordedRequest[] = [];
  const record = opts.record !== false;
  let seq = 0;

  const delay = opts.delayMs ?? 0;
  const server = http.createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => (delay > 0 && req.method === 'POST' ? setTimeout(answer, delay) : answer()));
    const answer = () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          return json(res, 400, { error: { message: 'invalid JSON body', type: 'invalid_request_error', code: null, param: null } });
        }
      }
      const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
      const apiKey = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined;
      if (record) requests.push({ method: req.method ?? 'GET', path, ...(authorization ? { authorization } : {}), ...(apiKey ? { apiKey } : {}), ...(body !== undefined ? { body } : {}) });

      const anthropic = path === '/v1/messages';
      if (opts.apiKey !== undefined) {
        const ok = anthropic ? apiKey === opts.apiKey : authorization === `Bearer ${opts.apiKey}`;
        if (!ok) {
          return anthropic
            ? json(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } })
            : json(res, 401, { error: { message: 'Incorrect API key provided. You can find your API key in your account settings.', type: 'invalid_request_error', code: 'invalid_api_key', param: null } });
        }
      }
      const id = `${++seq}`;
      const created = Math.floor(Date.now() / 1000);
      if (req.method === 'GET' && path === '/v1/models') {
        return json(res, 200, { object: 'list', data: models.map((m) => ({ id: m, object: 'model', created: 1700000000, owned_by: 'test' })) });
      }
      if (req.method === 'GET' && path === '/api/tags') {
        return json(res, 200, { models: models.map((m) => ({ name: m.includes(':') ? m : `${m}:latest`, model: m.includes(':') ? m : `${m}:latest`, size: 1 })) });
      }
      if (req.method !== 'POST') return json(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error', code: null, param: null } });
      if (typeof body?.model !== 'string' || !models.includes(body.model)) {
        return json(res, 404, { error: { message: `The model \`${String(body?.model)}\` does not exist`, type: 'invalid_request_error', code: 'model_not_found', param: null } });
      }
      const model: string = body.model;

      if (path === '/v1/chat/completions') {
        const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
        const prompt = messages.reduce((n, m) => n + 3 + countTokens(contentText(m?.content)), 3);
        const lastUser = contentText([...messages].reverse().find((m) => m?.role === 'user')?.content);
        const text = completionFor(lastUser, body.max_tokens ?? body.max_completion_tokens);
        const completion = countTokens(text);
        const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
        if (body.stream === true) {
          const base = { id: `chatcmpl-${id}`, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_test' };
          const events: unknown[] = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }];
          for (const [i, w] of text.split(' ').entries()) events.push({ ...base, choices: [{ index: 0, delta: { content: i === 0 ? w : ` ${w}` }, logprobs: null, finish_reason: null }] });
          events.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] });
          if (body.stream_options?.include_usage === true) events.push({ ...base, choices: [], usage });
          return sse(res, events.map((e) => `data: ${JSON.stringify(e)}\n\n`).concat('data: [DONE]\n\n'));
        }
        return json(res, 200, {
          id: `chatcmpl-${id}`,
          object: 'chat.completion',
          created,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage,
          system_fingerprint: 'fp_test',
        });
      }
      if (path === '/v1/completions') {
        const promptText = Array.isArray(body.prompt) ? body.prompt.join(' ') : String(body.prompt ?? '');
        const prompt = countTokens(promptText) + 1;
        const text = completionFor(promptText, body.max_tokens);
        const completion = countTokens(text);
        const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
        if (body.stream === true) {
          const base = { id: `cmpl-${id}`, object: 'text_completion', created, model };
          const events: unknown[] = text.split(' ').map((w, i) => ({ ...base, choices: [{ text: i === 0 ? w : ` ${w}`, index: 0, logprobs: null, finish_reason: null }] }));
          events.push({ ...base, choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }] });
          if (body.stream_options?.include_usage === true) events.push({ ...base, choices: [], usage });
          return sse(res, events.map((e) => `data: ${JSON.stringify(e)}\n\n`).concat('data: [DONE]\n\n'));
        }
        return json(res, 200, { id: `cmpl-${id}`, object: 'text_completion', created, model, choices: [{ text, index: 0, logprobs: null, finish_reason: 'stop' }], usage });
      }
      if (path === '/v1/embeddings') {
        const inputs: string[] = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? '')];
        const prompt = inputs.reduce((n, t) => n + countTokens(t), 0);
        return json(res, 200, {
          object: 'list',
          data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: embeddingOf(t) })),
          model,
          usage: { prompt_tokens: prompt, total_tokens: prompt },
        });
      }
      if (path === '/v1/messages') {
        const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
        const input = messages.reduce((n, m) => n + 3 + countTokens(contentText(m?.content)), countTokens(contentText(body.system)));
        const lastUser = contentText([...messages].reverse().find((m) => m?.role === 'user')?.content);
        const text = completionFor(lastUser, body.max_tokens);
        const output = countTokens(text);
        const message = { id: `msg_${id}`, type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: input, output_tokens: output } };
        if (body.stream === true) {
          const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
          return sse(res, [
            ev('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: input, output_tokens: 1 } } }),
            ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
            ...text.split(' ').map((w, i) => ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: i === 0 ? w : ` ${w}` } })),
            ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
            ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output } }),
            ev('message_stop', { type: 'message_stop' }),
          ]);
        }
        return json(res, 200, message);
      }
      return json(res, 404, { error: { message: `no route ${path}`, type: 'invalid_request_error', code: null, param: null } });
    };
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': `req_${Math.random().toString(36).slice(2, 10)}` }).end(text);
}

function sse(res: http.ServerResponse, events: string[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  // Several writes, as a real server streams them (the gateway must reassemble split events).
  for (const e of events) res.write(e);
  res.end();
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const s = await startOpenAiTestServer({ port: Number(arg('--port') ?? 0), record: false, ...(arg('--api-key') ? { apiKey: arg('--api-key')! } : {}), ...(arg('--models') ? { models: arg('--models')!.split(',') } : {}), delayMs: Number(arg('--delay-ms') ?? 0) });
  process.stdout.write(`${JSON.stringify({ url: s.url })}\n`);
  process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
}
