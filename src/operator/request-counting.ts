// Counts the controller's API requests by verb and resource, as the API server's own
// apiserver_request_total names them: how many requests an admission or a grant really costs
// is the figure the API server's capacity is spent on (issue 20).
//
// Every client of a KubeConfig (the typed clients, the JSON request helper, watches) passes
// its request through KubeConfig.applySecurityAuthentication once, so that is where it is
// counted; nothing else of the request is read (no query values, no headers, no body).
import type { KubeConfig } from '@kubernetes/client-node';

const COUNTED = Symbol.for('agent-machine.counted-requests');

export interface RequestLabels {
  /** get | list | watch | create | update | patch | delete | deletecollection */
  verb: string;
  /** The plural resource, with its subresource after a slash (localagentexecutions/status); 'other' for non-resource paths. */
  resource: string;
}

type Countable = {
  applySecurityAuthentication?: (ctx: { getUrl(): string; getHttpMethod(): string }) => Promise<void>;
  [COUNTED]?: true;
};

/** Calls onRequest once for each request any client of `kc` sends. Idempotent per KubeConfig (the first callback stays). */
export function countRequests(kc: KubeConfig, onRequest: (labels: RequestLabels) => void): void {
  const target = kc as unknown as Countable;
  if (target[COUNTED] || typeof target.applySecurityAuthentication !== 'function') return;
  const apply = target.applySecurityAuthentication.bind(kc);
  target.applySecurityAuthentication = async (ctx) => {
    try {
      onRequest(requestLabels(String(ctx.getHttpMethod()), ctx.getUrl()));
    } catch {
      // Counting never fails a request.
    }
    return apply(ctx);
  };
  target[COUNTED] = true;
}

/**
 * The verb and resource of an API request, from its method and URL alone. Paths:
 * /api/v1[/namespaces/{ns}]/{resource}[/{name}[/{sub}]] and
 * /apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{sub}]]. A Namespace itself is
 * /api/v1/namespaces/{name}.
 */
export function requestLabels(method: string, url: string): RequestLabels {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://x');
  } catch {
    return { verb: method.toLowerCase(), resource: 'other' };
  }
  const parts = parsed.pathname.split('/').filter((p) => p !== '');
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) rest = parts.slice(3);
  else return { verb: method.toLowerCase(), resource: 'other' };
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, sub] = rest;
  const m = method.toUpperCase();
  const watch = parsed.searchParams.get('watch');
  let verb: string;
  if (m === 'GET') verb = name === undefined ? (watch === 'true' || watch === '1' ? 'watch' : 'list') : 'get';
  else if (m === 'POST') verb = 'create';
  else if (m === 'PUT') verb = 'update';
  else if (m === 'PATCH') verb = 'patch';
  else if (m === 'DELETE') verb = name === undefined ? 'deletecollection' : 'delete';
  else verb = m.toLowerCase();
  if (resource === undefined) return { verb, resource: 'other' };
  return { verb, resource: sub ? `${resource}/${sub}` : resource };
}
