// A hosts file for the egress proxy only (`--egress-hosts FILE`): lines `ADDRESS NAME...` as in
// /etc/hosts, consulted before the system resolver. Operators pin names; tests map names such as
// allowed.test to local servers. The mapped addresses are checked like resolved ones (a private
// address still needs an exact allowlist entry for its name).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Resolve } from './egress-proxy.ts';
import { normalizeHost } from './egress-plan.ts';

/** name → addresses; lines that do not parse are reported, not guessed at. */
export function parseHostsFile(text: string): { hosts: Map<string, string[]>; problems: string[] } {
  const hosts = new Map<string, string[]>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [address, ...names] = line.split(/\s+/);
    if (!address || isIP(address) === 0 || names.length === 0) {
      problems.push(`line ${i + 1}: expected "ADDRESS NAME..."`);
      return;
    }
    for (const name of names) {
      const h = normalizeHost(name);
      if (!h || h.ip) {
        problems.push(`line ${i + 1}: ${JSON.stringify(name)} is not a host name`);
        continue;
      }
      hosts.set(h.host, [...(hosts.get(h.host) ?? []), address]);
    }
  });
  return { hosts, problems };
}

/** Resolves from the map first, else every address the system resolver has. */
export function hostsResolver(hosts: ReadonlyMap<string, readonly string[]>, fallback?: Resolve): Resolve {
  const system: Resolve = fallback ?? (async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address));
  return async (host) => {
    const mapped = hosts.get(host);
    return mapped ? [...mapped] : system(host);
  };
}
