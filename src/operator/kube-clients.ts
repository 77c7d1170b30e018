// Typed API clients built once from a KubeConfig, plus one generic JSON request helper.
//
// The helper exists because the generated clients cannot do everything the operator needs:
// they have no call for an arbitrary ResourceType (core and custom alike), and their patch
// calls pick 'application/json-patch+json' unless a middleware overrides the Content-Type.
// It goes through client-node's own HTTP stack (RequestContext + applySecurityAuthentication
// + IsomorphicFetchHttpLibrary), so TLS, tokens and exec credentials behave as in the typed
// clients, and failures surface as the same ApiException.
import {
  AdmissionregistrationV1Api,
  ApiException,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  PatchStrategy,
  RequestContext,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { ConfigurationOptions } from '@kubernetes/client-node';
import { shareConnections } from './connection-pool.ts';

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the server URL, e.g. from ResourceType.apiPath(). */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Serialized as JSON. */
  body?: unknown;
  /** Default 'application/json'; use PatchStrategy.* for PATCH. */
  contentType?: string;
  /** Aborts the request (e.g. AbortSignal.timeout(ms)). */
  signal?: AbortSignal;
  /** Default 'application/json' (e.g. a PartialObjectMetadataList to list names and annotations only). */
  accept?: string;
}

export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  readonly customObjects: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly authorization: AuthorizationV1Api;
  readonly admissionRegistration: AdmissionregistrationV1Api;
  readonly events: EventsV1Api;
  /** JSON request against any API path; resolves with the parsed body, throws ApiException on non-2xx. */
  request<T = unknown>(opts: RequestOptions): Promise<T>;
}

/**
 * Options for a typed patch call that sends a JSON merge patch, e.g.
 * `customObjects.patchNamespacedCustomObjectStatus({...}, MERGE_PATCH)`.
 */
export const MERGE_PATCH: ConfigurationOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function createKubeClients(kubeConfig: KubeConfig): KubeClients {
  shareConnections(kubeConfig);
  const http = new IsomorphicFetchHttpLibrary();
  return {
    kubeConfig,
    customObjects: kubeConfig.makeApiClient(CustomObjectsApi),
    core: kubeConfig.makeApiClient(CoreV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    authorization: kubeConfig.makeApiClient(AuthorizationV1Api),
    admissionRegistration: kubeConfig.makeApiClient(AdmissionregistrationV1Api),
    events: kubeConfig.makeApiClient(EventsV1Api),
    async request<T>(opts: RequestOptions): Promise<T> {
      const cluster = kubeConfig.getCurrentCluster();
      if (!cluster) throw new Error('kubeconfig has no current cluster');
      const url = new URL(cluster.server.replace(/\/+$/, '') + opts.path);
      for (const [k, v] of Object.entries(opts.query ?? {})) {
        if (v !== undefined) url.searchParams.set(k, String(v));
      }
      const ctx = new RequestContext(url.toString(), HttpMethod[opts.method]);
      ctx.setHeaderParam('Accept', opts.accept ?? 'application/json');
      if (opts.body !== undefined) {
        ctx.setHeaderParam('Content-Type', opts.contentType ?? 'application/json');
        ctx.setBody(JSON.stringify(opts.body));
      }
      if (opts.signal) ctx.setSignal(opts.signal);
      await kubeConfig.applySecurityAuthentication(ctx);
      const res = await http.send(ctx).toPromise();
      const text = await res.body.text();
      let parsed: unknown = undefined;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      if (res.httpStatusCode < 200 || res.httpStatusCode > 299) {
        const message = statusMessage(parsed) ?? (text.slice(0, 200) || `HTTP ${res.httpStatusCode}`);
        throw new ApiException(res.httpStatusCode, `${opts.method} ${opts.path}: ${res.httpStatusCode} ${message}`, parsed, res.headers);
      }
      return parsed as T;
    },
  };
}

function statusMessage(body: unknown): string | undefined {
  // The typed clients leave an error body as the raw JSON string; ours is parsed.
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  return undefined;
}

/** HTTP status of an API error, or undefined for network/other errors. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (err && typeof err === 'object') {
    // Watch (and some older paths) attach the HTTP status as statusCode, not as ApiException.
    const e = err as { statusCode?: unknown; code?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusCodeOf(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return statusCodeOf(err) === 409;
}

/**
 * Worth retrying as is: 409 conflicts are not included (retry only makes sense after a re-read),
 * but 429, 5xx, and every error that carries no HTTP status (connection refused/reset,
 * timeouts, DNS) are.
 */
export function isTransient(err: unknown): boolean {
  const code = statusCodeOf(err);
  if (code === undefined) return true;
  return code === 429 || code >= 500;
}

/** One line for a log, without the response headers client-node puts into ApiException messages. */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const msg = statusMessage(err.body);
    return msg ? `HTTP ${err.code}: ${msg}` : `HTTP ${err.code}`;
  }
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const detail = cause && typeof cause === 'object' ? (cause.code ?? cause.message) : undefined;
    return detail ? `${err.message} (${String(detail)})` : err.message;
  }
  return String(err);
}
