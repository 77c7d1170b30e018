// The egress proxy: the I/O half. The gateway's listener hands it absolute-form requests
// (`GET http://host/...` forwarded; `GET https://host/...` forwarded over TLS the proxy
// originates and verifies) and CONNECT requests (tunnels). Per connection:
//
//   1. authenticate: Proxy-Authorization carries the execution's token (authenticate.ts
//      proxyToken); never the source address. No or a dead token → 407.
//   2. the delegator's RBAC, asked again (authenticate.ts reauthorize, as every other route:
//      `use` on the profile, from the authorizer's ≤ 10 s cache) → 403 authority_lost, audited.
//   3. plan: the execution's effective network mode and its profile's allowlist
//      (egress-plan.ts planEgress) → 403 with a reason code, or go on.
//   4. resolve the name here (dns.lookup, every address; or the test/operator host map) and
//      check every address (checkResolved); connect to one of the checked addresses, never
//      resolving again. With a corporate proxy (the profile's network.proxy) the connection
//      leaves through it instead and the corporate proxy resolves the name.
//   5. relay, counting bytes; idle tunnels are closed.
//
// Refusals answer with a short plain-text reason and the header X-Agent-Machine-Reason; every
// decision is counted and audited in batches (egress-audit.ts). Nothing here logs or records a
// path, a query string, a header value or the token.
import { STATUS_CODES } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { AgentMachineProfile, LocalAgentExecution } from '../api/types.generated.ts';
import { containerNetworkMode } from '../governance/profile-rules.ts';
import type { Informer } from '../operator/informer.ts';
import type { Logger } from '../observability/logger.ts';
import { profileFact } from '../reconcilers/facts.ts';
import { auditRefusal, authenticateToken, proxyToken, reauthorize, type CallAuthority } from './authenticate.ts';
import type { EgressRecorder, EgressSubject } from './egress-audit.ts';
import { checkResolved, normalizeHost, parseAbsoluteUrl, parseAuthority, planEgress, type EgressFacts, type EgressGo, type EgressTarget } from './egress-plan.ts';
import type { TokenStore } from './tokens.ts';

/** Names → addresses; the default asks the system resolver for every address. */
export type Resolve = (host: string) => Promise<string[]>;

export const REASON_HEADER = 'x-agent-machine-reason';

export interface EgressProxyDeps {
  tokens: TokenStore;
  executions: Informer<LocalAgentExecution>;
  profiles: Informer<AgentMachineProfile>;
  recorder: EgressRecorder;
  /** The per-connection RBAC re-check and the audit of lost authority (the other routes' own). */
  authority: CallAuthority;
  log: Logger;
  clock: () => Date;
  /** Name resolution (tests map names such as allowed.test to local servers). */
  resolve?: Resolve;
  /** A tunnel or forwarded request with no bytes either way for this long is closed (default 5 min). */
  idleTimeoutMs?: number;
  /** Connecting to the destination or the corporate proxy (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * The certificate authorities a destination's certificate is checked against when the proxy
   * originates TLS (`GET https://…`); default Node's (its bundled roots, plus NODE_EXTRA_CA_CERTS).
   */
  originCa?: string[];
}

interface Refused {
  status: number;
  reason: string;
  message: string;
  extra?: Record<string, string>;
}

/** Headers that describe one hop and never go on (RFC 9110 7.6.1), plus the proxy's own credentials. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Headers a request may carry only once: two would let two parsers disagree on its meaning. */
const SINGLE = new Set(['host', 'proxy-authorization', 'content-length', 'transfer-encoding']);

const systemResolve: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export class EgressProxy {
  readonly #d: EgressProxyDeps;
  readonly #resolve: Resolve;
  readonly #idleMs: number;
  readonly #connectMs: number;
  readonly #open = new Set<net.Socket>();

  constructor(d: EgressProxyDeps) {
    this.#d = d;
    this.#resolve = d.resolve ?? systemResolve;
    this.#idleMs = d.idleTimeoutMs ?? 300_000;
    this.#connectMs = d.connectTimeoutMs ?? 10_000;
  }

  /** Closes every open tunnel and forwarded connection (shutdown). */
  closeAll(): void {
    for (const s of this.#open) s.destroy();
    this.#open.clear();
  }

  /** A CONNECT request: a tunnel to host:port once allowed. */
  async connect(req: http.IncomingMessage, client: net.Socket, head: Buffer, inactive?: string): Promise<void> {
    client.on('error', () => undefined);
    const decided = await this.#decide(req, inactive, () => {
      const t = parseAuthority(req.url ?? '');
      return t ? { target: t } : { refused: { status: 400, reason: 'bad_target', message: 'CONNECT needs host:port' } };
    });
    if ('refused' in decided) return this.#refuseRaw(client, decided.refused);
    const { plan, subject, upstreamProxy } = decided;
    let upstream: net.Socket;
    try {
      upstream = upstreamProxy ? await this.#tunnelThrough(upstreamProxy, plan.target) : await this.#dial(plan);
    } catch (err) {
      const refused = this.#unreachable(plan.target, err);
      this.#d.recorder.decided(subject.profile, 'denied', refused.reason);
      this.#d.recorder.note(subject, { host: plan.target.host, port: plan.target.port, decision: 'denied', reason: refused.reason, bytesUp: 0, bytesDown: 0 });
      return this.#refuseRaw(client, refused);
    }
    this.#d.recorder.decided(subject.profile, 'allowed', plan.reason);
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    client.setNoDelay(true);
    client.write('HTTP/1.1 200 Connection established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    let up = head.length;
    let down = 0;
    client.on('data', (c: Buffer) => (up += c.length));
    upstream.on('data', (c: Buffer) => (down += c.length));
    this.#track(client);
    this.#track(upstream);
    // Idle in either direction closes both (a slow or stuck peer holds nothing for long).
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.setTimeout(this.#idleMs, () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // Each direction ends on its own: a client that ends its side (a half-close) still gets the
    // destination's answer, and a destination's end is passed on once everything it sent was
    // written to the client. Only an error (or the idle timeout) cuts both at once.
    client.pipe(upstream);
    upstream.pipe(client);
    let noted = false;
    let closed = 0;
    const note = () => {
      if (noted) return;
      noted = true;
      this.#d.recorder.note(subject, { host: plan.target.host, port: plan.target.port, decision: 'allowed', reason: plan.reason, bytesUp: up, bytesDown: down });
    };
    const onClose = (hadError: boolean) => {
      if (hadError) {
        client.destroy();
        upstream.destroy();
      }
      if (++closed === 2) note();
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
  }

  /** An absolute-form request (`GET http://host/...`): forwarded once allowed. */
  async forward(req: http.IncomingMessage, res: http.ServerResponse, inactive?: string): Promise<void> {
    const decided = await this.#decide(req, inactive, () => {
      const parsed = parseAbsoluteUrl(req.url ?? '');
      if (!parsed) return { refused: { status: 400, reason: 'bad_target', message: 'the request URL is not an absolute http URL' } };
      if (parsed.scheme !== 'http' && parsed.scheme !== 'https') return { refused: { status: 400, reason: 'scheme_unsupported', message: `${parsed.scheme}:// is not forwarded: only http:// and https:// (or CONNECT)` } };
      const hostHeader = req.headers.host;
      if (hostHeader !== undefined) {
        const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(hostHeader);
        const h = hp ? normalizeHost(hp[1]!) : undefined;
        const port = hp?.[2] ? Number(hp[2]) : parsed.scheme === 'https' ? 443 : 80;
        if (!h || h.host !== parsed.target.host || port !== parsed.target.port) {
          return { refused: { status: 400, reason: 'host_mismatch', message: 'the Host header names another host than the request URL' } };
        }
      }
      return { target: parsed.target };
    });
    if ('refused' in decided) return this.#refuseHttp(res, decided.refused);
    const secure = req.url!.slice(0, 6).toLowerCase() === 'https:';
    const { plan, subject, upstreamProxy } = decided;
    const url = req.url!;
    const pathStart = url.indexOf('/', url.indexOf('//') + 2);
    const path = pathStart < 0 ? '/' : url.slice(pathStart);
    const headers: http.OutgoingHttpHeaders = {};
    const listed = new Set(String(req.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || listed.has(k)) continue;
      headers[k] = v;
    }
    headers.host = req.headers.host ?? (plan.target.port === (secure ? 443 : 80) ? plan.target.host : `${plan.target.host}:${plan.target.port}`);
    const addresses = plan.addresses ?? [];
    // `GET https://…` (what busybox wget sends for HTTPS through a proxy, instead of CONNECT):
    // the proxy originates the TLS connection itself, to the checked address, with the name as
    // SNI and the certificate verified for it (docs/egress-and-tools.md says why). A corporate
    // proxy gets the absolute URL, as squid takes it.
    const options: https.RequestOptions = upstreamProxy
      ? { host: upstreamProxy.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(upstreamProxy.port || (upstreamProxy.protocol === 'https:' ? 443 : 80)), path: url, method: req.method, headers, setHost: false, agent: false }
      : {
          host: addresses[0],
          port: plan.target.port,
          path,
          method: req.method,
          headers,
          setHost: false,
          agent: false,
          // An IP literal is its own address: the certificate is checked for it (no SNI).
          ...(secure ? { ...(plan.target.ip ? {} : { servername: plan.target.host }), ...(this.#d.originCa ? { ca: this.#d.originCa } : {}) } : {}),
        };
    let up = 0;
    let down = 0;
    let noted = false;
    const note = (decision: 'allowed' | 'denied', reason: string) => {
      if (noted) return;
      noted = true;
      this.#d.recorder.note(subject, { host: plan.target.host, port: plan.target.port, decision, reason, bytesUp: up, bytesDown: down });
    };
    const out = ((upstreamProxy ? upstreamProxy.protocol === 'https:' : secure) ? https.request : http.request)(options);
    out.setTimeout(this.#idleMs, () => out.destroy(new Error('idle timeout')));
    const connectTimer = setTimeout(() => out.destroy(new Error('connect timeout')), this.#connectMs);
    out.on('socket', (s) => {
      this.#track(s);
      s.once('connect', () => clearTimeout(connectTimer));
      if (!s.connecting) clearTimeout(connectTimer);
    });
    out.on('error', (err) => {
      clearTimeout(connectTimer);
      if (!res.headersSent) {
        const refused = this.#unreachable(plan.target, err);
        this.#d.recorder.decided(subject.profile, 'denied', refused.reason);
        note('denied', refused.reason);
        this.#refuseHttp(res, refused);
      } else {
        note('allowed', plan.reason);
        res.destroy();
      }
    });
    out.on('response', (upRes) => {
      clearTimeout(connectTimer);
      this.#d.recorder.decided(subject.profile, 'allowed', plan.reason);
      const back: http.OutgoingHttpHeaders = {};
      const listedBack = new Set(String(upRes.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
      for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !listedBack.has(k)) back[k] = v;
      res.writeHead(upRes.statusCode ?? 502, back);
      upRes.on('data', (c: Buffer) => (down += c.length));
      upRes.pipe(res);
      upRes.on('end', () => note('allowed', plan.reason));
      upRes.on('error', () => res.destroy());
    });
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
      note('allowed', plan.reason);
    });
    req.on('data', (c: Buffer) => (up += c.length));
    req.pipe(out);
  }

  /** Authentication, the execution's facts, the target, the plan and the resolution, in that order. */
  async #decide(
    req: http.IncomingMessage,
    inactive: string | undefined,
    targetOf: () => { target: EgressTarget } | { refused: Refused },
  ): Promise<{ refused: Refused } | { plan: EgressGo; subject: EgressSubject; upstreamProxy?: URL }> {
    const rec = this.#d.recorder;
    const refuseAnon = (r: Refused) => {
      rec.decided('', 'denied', r.reason);
      return { refused: r };
    };
    if (inactive !== undefined) return refuseAnon({ status: 503, reason: 'gateway_inactive', message: inactive });
    const dup = duplicateHeader(req.rawHeaders);
    if (dup) return refuseAnon({ status: 400, reason: 'duplicate_header', message: `the ${dup} header appears more than once` });
    const checked = authenticateToken(proxyToken(req.headers), this.#d.tokens, this.#d.executions, this.#d.clock());
    if (!checked.ok) {
      const status = checked.refusal.status === 401 ? 407 : checked.refusal.status;
      return refuseAnon({ status, reason: checked.refusal.code, message: checked.refusal.message, ...(status === 407 ? { extra: { 'proxy-authenticate': 'Basic realm="agent-machine-gateway"' } } : {}) });
    }
    const ex = checked.execution;
    const profile = this.#d.profiles.get(ex.spec.profileRef.name);
    const subject: EgressSubject = {
      namespace: ex.metadata.namespace!,
      execution: ex.metadata.name!,
      uid: ex.metadata.uid!,
      delegator: ex.spec.authority.delegator,
      delegate: ex.spec.authority.delegate,
      profile: ex.spec.profileRef.name,
    };
    const target = targetOf();
    const denied = (r: Refused, host = '(invalid)', port = 0) => {
      rec.decided(subject.profile, 'denied', r.reason);
      rec.note(subject, { host, port, decision: 'denied', reason: r.reason, bytesUp: 0, bytesDown: 0 });
      return { refused: r };
    };
    if ('refused' in target) return denied(target.refused);
    const t = target.target;
    // A tunnel outlives this check; a connection opened after RBAC went away is refused here.
    const lost = await reauthorize(this.#d.authority, ex, this.#d.clock(), {});
    if (lost) {
      await auditRefusal(this.#d.authority, ex, lost).catch((err: unknown) => this.#d.log.error({ route: 'egress', error: err instanceof Error ? err.message : String(err) }, 'could not audit a refused egress connection'));
      return denied({ status: lost.status, reason: lost.code, message: lost.message }, t.host, t.port);
    }
    const pf = profileFact(profile, ex.spec.profileRef.name);
    if (!profile || !pf.ready) return denied({ status: 403, reason: 'profile_not_ready', message: pf.message }, t.host, t.port);
    const facts: EgressFacts = {
      mode: containerNetworkMode(profile, ex.spec.network?.mode),
      profileName: profile.metadata.name!,
      profileType: profile.spec.profileType,
      allowlist: profile.spec.network?.egressAllowlist ?? [],
      ...(ex.spec.network?.egressAllowlist ? { narrowed: ex.spec.network.egressAllowlist } : {}),
    };
    const plan = planEgress(facts, t);
    if (!plan.allowed) return denied(plan, t.host, t.port);
    const proxy = profile.spec.network?.proxy;
    if (proxy) {
      let upstreamProxy: URL;
      try {
        upstreamProxy = new URL(proxy);
      } catch {
        return denied({ status: 502, reason: 'proxy_invalid', message: `the corporate proxy of profile ${facts.profileName} is not a URL` }, t.host, t.port);
      }
      // The corporate proxy resolves names; an IP literal was checked above.
      return { plan, subject, upstreamProxy };
    }
    if (plan.addresses) return { plan, subject };
    let addresses: string[];
    try {
      addresses = await this.#resolve(t.host);
    } catch {
      addresses = [];
    }
    const resolved = checkResolved(plan, addresses);
    if (!resolved.allowed) return denied(resolved, t.host, t.port);
    return { plan: resolved, subject };
  }

  /** A TCP connection to the first checked address that answers. */
  async #dial(plan: EgressGo): Promise<net.Socket> {
    let last: unknown;
    for (const address of plan.addresses ?? []) {
      try {
        return await this.#connectTcp(address, plan.target.port);
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new Error('no address');
  }

  #connectTcp(host: string, port: number, secure = false, servername?: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      // No Nagle: a tunnel relays small TLS records (handshakes, interactive traffic) that must not wait.
      // allowHalfOpen: the destination's end must not end the client's direction too (see
      // connect; a TLS connection to a corporate proxy closes as a whole, as TLS does).
      const s = secure ? tls.connect({ host, port, ...(servername && !net.isIP(servername) ? { servername } : {}) }) : net.connect({ host, port, allowHalfOpen: true });
      s.setNoDelay(true);
      const timer = setTimeout(() => s.destroy(new Error(`connect timeout after ${this.#connectMs} ms`)), this.#connectMs);
      s.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeListener('error', reject);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** CONNECT host:port through the corporate proxy; resolves with the tunnel once it said 2xx. */
  async #tunnelThrough(proxy: URL, target: EgressTarget): Promise<net.Socket> {
    const host = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = proxy.protocol === 'https:';
    const s = await this.#connectTcp(host, Number(proxy.port || (secure ? 443 : 80)), secure, host);
    const authority = target.ip === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new Error('the corporate proxy did not answer CONNECT')), this.#connectMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(err);
      };
      const onData = (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > 16 * 1024) fail(new Error('the corporate proxy answered CONNECT with oversized headers'));
          return;
        }
        s.removeListener('data', onData);
        s.removeListener('error', fail);
        clearTimeout(timer);
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (status < 200 || status > 299) {
          s.destroy();
          reject(Object.assign(new Error(`the corporate proxy refused the tunnel (HTTP ${status || 'garbage'})`), { proxyStatus: status }));
          return;
        }
        const rest = buf.subarray(end + 4);
        if (rest.length > 0) s.unshift(rest);
        resolve(s);
      };
      s.on('data', onData);
      s.once('error', fail);
    });
  }

  #unreachable(t: EgressTarget, err: unknown): Refused {
    const proxyStatus = (err as { proxyStatus?: number }).proxyStatus;
    if (proxyStatus !== undefined) return { status: 502, reason: 'upstream_proxy_refused', message: `${t.host}:${t.port}: ${(err as Error).message}` };
    const code = (err as NodeJS.ErrnoException).code;
    return { status: 502, reason: 'upstream_unreachable', message: `${t.host}:${t.port} did not accept the connection${code ? ` (${code})` : ''}` };
  }

  #track(s: net.Socket): void {
    this.#open.add(s);
    s.once('close', () => this.#open.delete(s));
  }

  #refuseRaw(client: net.Socket, r: Refused): void {
    if (client.destroyed) return;
    const body = `egress refused (${r.reason}): ${oneLine(r.message)}\n`;
    const extra = Object.entries(r.extra ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    client.end(
      `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Refused'}\r\ncontent-type: text/plain; charset=utf-8\r\n${REASON_HEADER}: ${r.reason}\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    // A client that never reads must not hold the socket open.
    setTimeout(() => client.destroy(), 5_000).unref();
  }

  #refuseHttp(res: http.ServerResponse, r: Refused): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = `egress refused (${r.reason}): ${oneLine(r.message)}\n`;
    // The request body is not read: close the connection instead of draining it.
    res.writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8', [REASON_HEADER]: r.reason, 'content-length': Buffer.byteLength(body), connection: 'close', ...r.extra }).end(body);
  }
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 512);
}

/** The first single-valued header that appears twice (case-insensitive), if any. */
export function duplicateHeader(raw: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (!SINGLE.has(k)) continue;
    if (seen.has(k)) return k;
    seen.add(k);
  }
  return undefined;
}
