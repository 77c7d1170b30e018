// The NetworkPolicy that realises a profile's network mode for one record's Pod. Pure.
//
// Every Pod gets exactly one policy (same name and labels as the Pod), selecting it by its
// record-UID label and listing both policyTypes, so ingress is always denied and egress is
// exactly what the mode allows:
//   - none:         no egress rule: deny all;
//   - gateway-only: TCP to the agent-machine gateway Pods (namespace + pod selector + port),
//                   plus DNS;
//   - allowlist:    the gateway, the proxy, IP-literal allowlist entries, plus DNS (below);
//   - open:         one empty egress rule: allow all egress (ingress still denied). A policy
//                   rather than none at all, so "ingress denied" holds in every mode and a
//                   namespace default-deny does not silently cut an open record off.
//
// Limits of NetworkPolicy, which a reader of an allowlist profile must know:
//   - it matches IPs, namespaces and Pods, never hostnames. Hostname entries of the
//     egressAllowlist are enforced only by the egress proxy; this policy only forces traffic
//     to go through it. A proxy given by IP becomes an ipBlock /32 (/128); a proxy given by
//     hostname cannot be pinned, so egress is allowed to ANY address on the proxy's TCP port.
//     Without a proxy, hostname entries are simply unreachable (fail closed); IP-literal
//     entries ("10.1.2.3" or "10.1.2.3:443") become ipBlock rules;
//   - DNS (UDP+TCP 53 to the DNS namespace, kube-system by default) is allowed in
//     gateway-only and allowlist modes so names resolve; cluster DNS forwards upstream, so a
//     determined program can tunnel data out through DNS queries. Pass `dns: false` to close
//     it when agents reach the gateway/proxy by IP;
//   - policies are additive: another policy selecting the same Pod can widen what it may do;
//   - it is enforced only by a CNI that implements NetworkPolicy (k3s' built-in kube-router
//     policy controller, Calico, Cilium, ...). On a CNI that does not, it is inert and the
//     Pod's network is open. The API gives the runtime no way to tell.
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1NetworkPolicyPeer, V1OwnerReference } from '@kubernetes/client-node';
import { RECORD_UID_LABEL } from '../container-runtime.ts';
import type { ContainerRunSpec } from '../container-runtime.ts';
import { labelsFor, podNameFor } from './pod.ts';

/** Namespaces carry this label automatically (Kubernetes >= 1.21). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface GatewayEndpoint {
  /** Namespace of the gateway Pods (default agent-machine-system). */
  namespace?: string;
  /** Labels of the gateway Pods (default app.kubernetes.io/name=agent-machine). */
  podSelector?: Record<string, string>;
  /** TCP port the gateway listens on; absent: every port of those Pods. */
  port?: number;
}

export interface DnsEndpoint {
  /** Namespace of the cluster DNS Pods (default kube-system). */
  namespace?: string;
  /** Labels of the DNS Pods (default: any Pod in that namespace, on port 53 only). */
  podSelector?: Record<string, string>;
}

export interface NetworkPolicyOptions {
  gateway?: GatewayEndpoint;
  /** false: no DNS egress in any mode. */
  dns?: DnsEndpoint | false;
  owner?: V1OwnerReference;
}

export const DEFAULT_GATEWAY = { namespace: 'agent-machine-system', podSelector: { 'app.kubernetes.io/name': 'agent-machine' } } as const;
export const DEFAULT_DNS_NAMESPACE = 'kube-system';

export interface ProxyEndpoint {
  host: string;
  port: number;
  /** The host is an IP literal (ipBlock possible). */
  ip: 4 | 6 | undefined;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function ipVersion(host: string): 4 | 6 | undefined {
  if (IPV4.test(host)) return 4;
  if (host.includes(':') && /^[0-9a-fA-F:.]+$/.test(host)) return 6;
  return undefined;
}

function validPort(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${what}: port ${n} is not in 1..65535`);
  return n;
}

/**
 * The proxy as the profile writes it (`http://host:port`, `https://host`) or as `host:port`.
 * Throws when it cannot be parsed: a policy that guesses would be wrong in one direction.
 */
export function parseProxy(proxy: string): ProxyEndpoint {
  const text = proxy.trim();
  let host: string;
  let port: number;
  if (text.includes('://')) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`network proxy ${JSON.stringify(proxy)} is not a URL`);
    }
    host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : NaN;
  } else {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
    if (!m) throw new Error(`network proxy ${JSON.stringify(proxy)} is neither a URL nor host:port`);
    host = m[1]!;
    port = Number(m[2]);
  }
  if (!host) throw new Error(`network proxy ${JSON.stringify(proxy)} has no host`);
  return { host, port: validPort(port, `network proxy ${JSON.stringify(proxy)}`), ip: ipVersion(host) };
}

function ipBlock(host: string, version: 4 | 6): V1NetworkPolicyPeer {
  return { ipBlock: { cidr: version === 4 ? `${host}/32` : `${host}/128` } };
}

function gatewayRule(gw: GatewayEndpoint | undefined): V1NetworkPolicyEgressRule {
  const namespace = gw?.namespace ?? DEFAULT_GATEWAY.namespace;
  const podSelector = gw?.podSelector ?? DEFAULT_GATEWAY.podSelector;
  return {
    to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } }, podSelector: { matchLabels: { ...podSelector } } }],
    ...(gw?.port !== undefined ? { ports: [{ protocol: 'TCP', port: validPort(gw.port, 'gateway') }] } : {}),
  };
}

function dnsRule(dns: DnsEndpoint | false | undefined): V1NetworkPolicyEgressRule[] {
  if (dns === false) return [];
  const peer: V1NetworkPolicyPeer = {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: dns?.namespace ?? DEFAULT_DNS_NAMESPACE } },
    ...(dns?.podSelector ? { podSelector: { matchLabels: { ...dns.podSelector } } } : {}),
  };
  return [{ to: [peer], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }];
}

/** IP-literal allowlist entries ("1.2.3.4", "1.2.3.4:443") as ipBlock rules; hostnames are left to the proxy. */
function allowlistIpRules(entries: readonly string[]): V1NetworkPolicyEgressRule[] {
  const rules: V1NetworkPolicyEgressRule[] = [];
  for (const entry of entries) {
    const m = /^([0-9.]+)(?::(\d+))?$/.exec(entry.trim());
    if (!m || ipVersion(m[1]!) !== 4) continue;
    const port = m[2] !== undefined ? validPort(Number(m[2]), `egressAllowlist entry ${entry}`) : undefined;
    rules.push({ to: [ipBlock(m[1]!, 4)], ...(port !== undefined ? { ports: [{ protocol: 'TCP', port }] } : {}) });
  }
  return rules;
}

function proxyRule(proxy: string): V1NetworkPolicyEgressRule {
  const p = parseProxy(proxy);
  const ports = [{ protocol: 'TCP', port: p.port }];
  // A hostname cannot be pinned: the port is all a NetworkPolicy can hold it to.
  return p.ip ? { to: [ipBlock(p.host, p.ip)], ports } : { ports };
}

/** Egress rules of a mode (undefined entries never; [] = deny all egress). */
export function egressRulesFor(network: ContainerRunSpec['network'], opts: Omit<NetworkPolicyOptions, 'owner'> = {}): V1NetworkPolicyEgressRule[] {
  switch (network.mode) {
    case 'none':
      return [];
    case 'gateway-only':
      return [gatewayRule(opts.gateway), ...dnsRule(opts.dns)];
    case 'allowlist':
      return [
        gatewayRule(opts.gateway),
        ...(network.proxy ? [proxyRule(network.proxy)] : []),
        ...allowlistIpRules(network.egressAllowlist ?? []),
        ...dnsRule(opts.dns),
      ];
    case 'open':
      return [{}];
    default: {
      // A mode this code does not know must not fall through to "open".
      const unknown: never = network.mode;
      throw new Error(`unknown network mode ${JSON.stringify(unknown)}`);
    }
  }
}

/** The record's NetworkPolicy: same name and labels as its Pod, selecting it by record UID. */
export function networkPolicyFor(spec: ContainerRunSpec, opts: NetworkPolicyOptions = {}): V1NetworkPolicy {
  const egress = egressRulesFor(spec.network, opts);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: podNameFor(spec),
      namespace: spec.recordNamespace,
      labels: labelsFor(spec),
      ...(opts.owner ? { ownerReferences: [opts.owner] } : {}),
    },
    spec: {
      podSelector: { matchLabels: { [RECORD_UID_LABEL]: spec.recordUid } },
      policyTypes: ['Ingress', 'Egress'],
      ...(egress.length > 0 ? { egress } : {}),
    },
  };
}
