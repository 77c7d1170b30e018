// The NetworkPolicy that realises a profile's network mode for one record's Pod. Pure.
//
// Every Pod gets exactly one policy (same name and labels as the Pod), selecting it by its
// record-UID label and listing both policyTypes, so ingress is always denied and egress is
// exactly what the mode allows:
//   - none:         TCP to the agent-machine gateway Pods only (no DNS): local models, nothing else;
//   - gateway-only: TCP to the agent-machine gateway Pods (namespace + pod selector + port),
//                   plus DNS;
//   - allowlist:    the same: allowlisted hosts are reached through the gateway's egress
//                   proxy (HTTP(S)_PROXY in the Pod's env), which checks names and addresses;
//   - open:         one empty egress rule: allow all egress (ingress still denied). A policy
//                   rather than none at all, so "ingress denied" holds in every mode and a
//                   namespace default-deny does not silently cut an open record off.
//
// Limits of NetworkPolicy, which a reader of an allowlist profile must know:
//   - it matches IPs, namespaces and Pods, never hostnames: the egressAllowlist is enforced by
//     the egress proxy (src/gateway/egress-proxy.ts); this policy only forces traffic through it;
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

function validPort(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${what}: port ${n} is not in 1..65535`);
  return n;
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

/** Egress rules of a mode (undefined entries never; [] = deny all egress). */
export function egressRulesFor(network: ContainerRunSpec['network'], opts: Omit<NetworkPolicyOptions, 'owner'> = {}): V1NetworkPolicyEgressRule[] {
  switch (network.mode) {
    case 'none':
      // Airgapped: the gateway (local models) and nothing else, not even DNS (a DNS query is
      // a way out); advertise the gateway to such Pods by IP.
      return [gatewayRule(opts.gateway)];
    case 'gateway-only':
    case 'allowlist':
      // Allowlisted hosts are reached through the gateway's egress proxy (the Pod gets
      // HTTP(S)_PROXY); the corporate proxy, if any, is the gateway's next hop, not the Pod's.
      return [gatewayRule(opts.gateway), ...dnsRule(opts.dns)];
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
