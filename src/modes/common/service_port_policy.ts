/**
 * How one service port routes traffic, decided once for every kernel mode: its IPv4 addresses (IPv6 ones
 * are skipped until the modes plan per family), its usable endpoints, and which of upstream's policy
 * chains it needs. The flags follow upstream's `CategorizeEndpoints`, `UsesClusterEndpoints` and
 * `UsesLocalEndpoints` (pkg/proxy, 1.28+) and the iptables mode's plan, which the nftables mode must
 * agree with packet for packet.
 *
 * @module
 */
import { formatIpv4, type Ipv4Cidr, parseIpv4, parseIpv4Cidr } from '../../kernel/iptables_address.ts';
import type { Endpoint, ServicePortState } from '../../model/types.ts';

/** A service port's addresses, endpoints and policy decisions (IPv4 only). */
export interface ServicePortPolicy {
  /** The first IPv4 cluster IP, in canonical form. */
  readonly clusterIP: string;
  /** IPv4 external IPs, canonical. */
  readonly externalIPs: readonly string[];
  /** IPv4 load-balancer ingress IPs, canonical. */
  readonly loadBalancerIPs: readonly string[];
  /** IPv4 `loadBalancerSourceRanges` (malformed ones skipped). */
  readonly sourceRanges: readonly Ipv4Cidr[];
  /** 0 when none. */
  readonly nodePort: number;
  /** 0 when none. */
  readonly healthCheckNodePort: number;
  /** IPv4 endpoints with a valid port, whatever their conditions. */
  readonly allEndpoints: readonly Endpoint[];
  /** Endpoints for Cluster traffic policy (ready, else serving+terminating). */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Endpoints on this node for Local traffic policy. */
  readonly localEndpoints: readonly Endpoint[];
  readonly internalPolicyLocal: boolean;
  readonly externalPolicyLocal: boolean;
  /** Has a node port, external IPs or load-balancer IPs. */
  readonly externallyAccessible: boolean;
  /** Some endpoint anywhere may serve it: false means REJECT. */
  readonly hasEndpoints: boolean;
  /** Cluster IP traffic has endpoints (else DROP when hasEndpoints, REJECT when not). */
  readonly hasInternalEndpoints: boolean;
  /** External traffic has endpoints (else DROP when hasEndpoints, REJECT when not). */
  readonly hasExternalEndpoints: boolean;
  /** The Cluster policy chain exists (KUBE-SVC- / service-). */
  readonly usesClusterChain: boolean;
  /** The Local policy chain exists (KUBE-SVL- / local-). */
  readonly usesLocalChain: boolean;
  /** The external-destinations chain exists (KUBE-EXT- / external-). */
  readonly usesExternalChain: boolean;
  /** Every endpoint a DNAT can reach (the policy chains' endpoints), by address then port, without repeats. */
  readonly reachableEndpoints: readonly Endpoint[];
}

function validPort(p: number): boolean {
  return Number.isInteger(p) && p > 0 && p < 65536;
}

function canonicalIpv4(ips: readonly string[]): string[] {
  const out: string[] = [];
  for (const ip of ips) {
    const n = parseIpv4(ip);
    if (n !== undefined) out.push(formatIpv4(n));
  }
  return out;
}

function usable(eps: readonly Endpoint[]): Endpoint[] {
  return eps.filter((e) => parseIpv4(e.ip) !== undefined && validPort(e.port));
}

/**
 * Decides how a service port routes traffic.
 *
 * @param sp the service port, with endpoints already selected by the tracker
 * @returns its policy, or undefined when it has no IPv4 cluster IP or an invalid port (nothing to program)
 * @example servicePortPolicy(sp)?.usesClusterChain
 */
export function servicePortPolicy(sp: ServicePortState): ServicePortPolicy | undefined {
  const clusterIP = canonicalIpv4(sp.clusterIPs)[0];
  if (clusterIP === undefined || !validPort(sp.port)) return undefined;
  const externalIPs = canonicalIpv4(sp.externalIPs);
  const loadBalancerIPs = canonicalIpv4(sp.loadBalancerIPs);
  const sourceRanges = sp.loadBalancerSourceRanges
    .map((r) => parseIpv4Cidr(r))
    .filter((c): c is Ipv4Cidr => c !== undefined);
  const nodePort = validPort(sp.nodePort) ? sp.nodePort : 0;
  const allEndpoints = usable(sp.allEndpoints);
  const clusterEndpoints = usable(sp.clusterEndpoints);
  const localEndpoints = usable(sp.localEndpoints);

  const internalPolicyLocal = sp.internalTrafficPolicy === 'Local';
  const externalPolicyLocal = sp.externalTrafficPolicy === 'Local';
  const externallyAccessible = nodePort !== 0 || externalIPs.length > 0 || loadBalancerIPs.length > 0;
  const usesClusterEndpoints = !internalPolicyLocal || externallyAccessible;
  const usesLocalEndpoints = internalPolicyLocal || (externalPolicyLocal && externallyAccessible);
  const hasEndpoints =
    clusterEndpoints.length > 0 || allEndpoints.some((e) => e.ready || (e.serving && e.terminating));
  const usesClusterChain = clusterEndpoints.length > 0 && usesClusterEndpoints;
  const usesLocalChain = localEndpoints.length > 0 && usesLocalEndpoints;

  const reachable = new Map<string, Endpoint>();
  if (usesClusterChain) for (const e of clusterEndpoints) reachable.set(`${e.ip}:${e.port}`, e);
  if (usesLocalChain) for (const e of localEndpoints) reachable.set(`${e.ip}:${e.port}`, e);
  const reachableEndpoints = [...reachable.values()].sort(
    (a, b) => parseIpv4(a.ip)! - parseIpv4(b.ip)! || a.port - b.port,
  );

  return {
    clusterIP,
    externalIPs,
    loadBalancerIPs,
    sourceRanges,
    nodePort,
    healthCheckNodePort: validPort(sp.healthCheckNodePort) ? sp.healthCheckNodePort : 0,
    allEndpoints,
    clusterEndpoints,
    localEndpoints,
    internalPolicyLocal,
    externalPolicyLocal,
    externallyAccessible,
    hasEndpoints,
    hasInternalEndpoints: hasEndpoints && (internalPolicyLocal ? usesLocalChain : usesClusterChain),
    hasExternalEndpoints: hasEndpoints && (externalPolicyLocal ? usesLocalChain : usesClusterChain),
    usesClusterChain,
    usesLocalChain,
    usesExternalChain: hasEndpoints && externallyAccessible,
    reachableEndpoints,
  };
}
