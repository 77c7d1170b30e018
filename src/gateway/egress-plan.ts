// What the egress proxy decides for one connection, pure: the execution's effective network
// mode, its profile's allowlist (narrowed by the execution's when it names one), and the target
// host:port → allowed or a refusal with a reason code. Names are judged twice: by name here
// (planEgress), then by the addresses the proxy resolved (checkResolved), so the address the
// proxy connects to is the one that was checked (no DNS rebinding between check and connect).
//
//   none           nothing: the gateway's own routes only (they are not proxied)
//   gateway-only   nothing: the gateway's own routes only
//   allowlist      host[:port] patterns: `host`, `*.suffix` (any name under suffix, not suffix
//                  itself), an IPv4 literal; without a port an entry allows 80 and 443 only
//   open           anything (personal profiles only)
//
// In every mode a target that is, or resolves to, a loopback, link-local, cloud-metadata,
// private (RFC 1918, ULA), CGNAT, multicast or reserved address is refused unless an exact
// (non-wildcard) allowlist entry names that host or IP: a wildcard entry or `open` never reaches
// the controller's own network. Host names are compared in their ASCII form (IDN → punycode),
// lower case, without a trailing dot; IPv4 in any notation URL parsers accept is normalised to
// dotted quads, so `0x7f.1` is 127.0.0.1.
import { isIPv4 } from 'node:net';
import type { NetworkMode } from '../runtimes/container-runtime.ts';
import { classifyAddress } from './address-class.ts';

export interface EgressTarget {
  /** ASCII, lower case, no trailing dot; IPv6 without brackets. */
  host: string;
  port: number;
  /** Set when host is an IP literal. */
  ip?: 4 | 6;
}

export type EgressRefusalCode =
  | 'bad_target'
  | 'mode_none'
  | 'mode_gateway_only'
  | 'open_not_personal'
  | 'not_listed'
  | 'port_not_listed'
  | 'forbidden_address'
  | 'resolve_failed';

export interface EgressRefusal {
  allowed: false;
  status: number;
  reason: EgressRefusalCode;
  message: string;
}

export interface EgressGo {
  allowed: true;
  /** 'listed': matched the allowlist; 'open': open mode. */
  reason: 'listed' | 'open';
  target: EgressTarget;
  /** An exact allowlist entry names the host (or IP): private addresses are allowed for it. */
  explicit: boolean;
  /** For an IP literal: that address; for a name: undefined until resolved (checkResolved). */
  addresses?: string[];
}

export type EgressPlan = EgressGo | EgressRefusal;

export interface EgressFacts {
  mode: NetworkMode;
  profileName: string;
  profileType: string;
  /** The profile's network.egressAllowlist. */
  allowlist: readonly string[];
  /** The execution's narrower list (each target must match both), when it names one. */
  narrowed?: readonly string[];
}

const MAX_HOST = 253;
const WEB_PORTS: readonly number[] = [80, 443];

const refuse = (status: number, reason: EgressRefusalCode, message: string): EgressRefusal => ({ allowed: false, status, reason, message });

/** A host as a WHATWG URL parser normalises it (IDN → punycode, IPv4 forms → dotted quad), without a trailing dot. */
export function normalizeHost(raw: string): { host: string; ip?: 4 | 6 } | undefined {
  if (raw.length === 0 || raw.length > 1024 || /[\s/?#@\\]/.test(raw)) return undefined;
  const bracketed = raw.startsWith('[') ? raw : raw.includes(':') ? `[${raw}]` : raw;
  let hostname: string;
  try {
    hostname = new URL(`http://${bracketed}/`).hostname;
  } catch {
    return undefined;
  }
  if (hostname.startsWith('[')) return { host: hostname.slice(1, -1), ip: 6 };
  const host = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (host.length === 0 || host.length > MAX_HOST || host.endsWith('.') || host.includes('..') || host.startsWith('.')) return undefined;
  return isIPv4(host) ? { host, ip: 4 } : { host };
}

function port(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** The target of a CONNECT request (authority form `host:port`, `[v6]:port`). */
export function parseAuthority(authority: string): EgressTarget | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s/?#@\\]+)):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const p = port(m[3]);
  const h = normalizeHost(m[1] !== undefined ? `[${m[1]}]` : m[2]!);
  return p !== undefined && h ? { ...h, port: p } : undefined;
}

/** The target of an absolute-form request (`http://host[:port]/...`); https and others are refused by the caller. */
export function parseAbsoluteUrl(url: string): { scheme: string; target: EgressTarget } | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/.exec(url);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const authority = m[2]!;
  if (authority.includes('@')) return undefined;
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (!hp) return undefined;
  const h = normalizeHost(hp[1]!);
  const p = hp[2] === undefined || hp[2] === '' ? (scheme === 'https' ? 443 : 80) : port(hp[2]);
  return h && p !== undefined ? { scheme, target: { ...h, port: p } } : undefined;
}

interface AllowEntry {
  wildcard: boolean;
  host: string;
  port?: number;
}

/** An allowlist entry (`host`, `*.suffix`, either with `:port`); undefined for one that does not parse (it allows nothing). */
export function parseAllowEntry(entry: string): AllowEntry | undefined {
  const m = /^(\*\.)?([^:]+)(?::(\d{1,5}))?$/.exec(entry.trim().toLowerCase());
  if (!m) return undefined;
  const h = normalizeHost(m[2]!);
  if (!h || (m[1] && h.ip)) return undefined;
  const p = m[3] === undefined ? undefined : port(m[3]);
  if (m[3] !== undefined && p === undefined) return undefined;
  return { wildcard: m[1] !== undefined, host: h.host, ...(p !== undefined ? { port: p } : {}) };
}

/**
 * Does `list` allow everything `entry` allows? Each port of the entry (its own, or 80 and 443
 * without one) needs an entry of the list whose host covers the entry's: the same name, or a
 * `*.suffix` above it (never an IP literal). An entry that does not parse is covered by nothing.
 */
export function allowlistCovers(list: readonly string[], entry: string): boolean {
  const e = parseAllowEntry(entry);
  if (!e) return false;
  const ip = !e.wildcard && normalizeHost(e.host)?.ip !== undefined;
  const ports = e.port !== undefined ? [e.port] : WEB_PORTS;
  return ports.every((p) =>
    list.some((raw) => {
      const o = parseAllowEntry(raw);
      if (!o) return false;
      const host = o.wildcard ? !ip && (e.host.endsWith(`.${o.host}`) || (e.wildcard && e.host === o.host)) : !e.wildcard && o.host === e.host;
      return host && (o.port !== undefined ? o.port === p : WEB_PORTS.includes(p));
    }),
  );
}

type Match = 'none' | 'host-only' | 'wildcard' | 'exact';

function matchList(list: readonly string[], t: EgressTarget): Match {
  let best: Match = 'none';
  for (const raw of list) {
    const e = parseAllowEntry(raw);
    if (!e) continue;
    const hostMatches = e.wildcard ? t.host.endsWith(`.${e.host}`) && !t.ip : e.host === t.host;
    if (!hostMatches) continue;
    const portMatches = e.port !== undefined ? e.port === t.port : WEB_PORTS.includes(t.port);
    if (!portMatches) {
      if (best === 'none') best = 'host-only';
      continue;
    }
    if (!e.wildcard) return 'exact';
    best = 'wildcard';
  }
  return best;
}

const shown = (t: EgressTarget): string => (t.ip === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

/** The decision before any name is resolved. */
export function planEgress(facts: EgressFacts, target: EgressTarget): EgressPlan {
  const where = `${shown(target)}`;
  let explicit = false;
  let reason: EgressGo['reason'];
  switch (facts.mode) {
    case 'none':
      return refuse(403, 'mode_none', `${where}: profile ${facts.profileName} is airgapped (network mode none): only the gateway itself is reachable`);
    case 'gateway-only':
      return refuse(403, 'mode_gateway_only', `${where}: profile ${facts.profileName} allows only the gateway's own routes (network mode gateway-only)`);
    case 'open':
      if (facts.profileType !== 'personal') return refuse(403, 'open_not_personal', `${where}: network mode open is for personal profiles only, ${facts.profileName} is ${facts.profileType}`);
      explicit = matchList(facts.allowlist, target) === 'exact';
      reason = 'open';
      break;
    case 'allowlist': {
      const lists = [facts.allowlist, ...(facts.narrowed ? [facts.narrowed] : [])];
      const matches = lists.map((l) => matchList(l, target));
      if (matches.some((m) => m === 'none')) return refuse(403, 'not_listed', `${where} is not on the egress allowlist${facts.narrowed ? 's' : ''} of profile ${facts.profileName}${facts.narrowed ? ' and the execution' : ''}`);
      if (matches.some((m) => m === 'host-only')) return refuse(403, 'port_not_listed', `${where}: port ${target.port} is not allowed for ${target.host} (an entry without a port allows 80 and 443)`);
      explicit = matches.every((m) => m === 'exact');
      reason = 'listed';
      break;
    }
    default: {
      const unknown: never = facts.mode;
      return refuse(403, 'mode_none', `${where}: unknown network mode ${String(unknown)}`);
    }
  }
  if (target.ip) {
    const cls = classifyAddress(target.host);
    if (cls !== 'public' && !explicit) return refuse(403, 'forbidden_address', `${where} is a ${cls} address: refused unless the allowlist names it exactly`);
    return { allowed: true, reason, target, explicit, addresses: [target.host] };
  }
  return { allowed: true, reason, target, explicit };
}

/** The decision once the proxy resolved the name: every address must be allowed (else a name could mix in a forbidden one). */
export function checkResolved(plan: EgressGo, addresses: readonly string[]): EgressPlan {
  const where = shown(plan.target);
  if (addresses.length === 0) return refuse(502, 'resolve_failed', `${where}: the name did not resolve`);
  if (!plan.explicit) {
    for (const a of addresses) {
      const cls = classifyAddress(a);
      if (cls !== 'public') return refuse(403, 'forbidden_address', `${where} resolves to ${a}, a ${cls} address: refused unless the allowlist names the host exactly`);
    }
  }
  return { ...plan, addresses: [...addresses] };
}
