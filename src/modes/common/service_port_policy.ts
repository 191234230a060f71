/**
 * How one service port routes traffic, decided once for every kernel mode: its IPv4 addresses (IPv6 ones
 * are skipped until the modes plan per family), its usable endpoints, and which of upstream's policy
 * chains it needs. The flags follow upstream's `CategorizeEndpoints`, `UsesClusterEndpoints` and
 * `UsesLocalEndpoints` (pkg/proxy, 1.28+). The iptables and nftables plans both read them here, so that
 * the two modes agree packet for packet. (The ipvs mode decides differently, as upstream's ipvs proxier
 * does: one virtual server per address with the policy's endpoints, no policy chains.)
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

/** Endpoints that a mode can program (IPv4, valid port), and whether they are already in order. */
interface Usable {
  readonly endpoints: readonly Endpoint[];
  /** By address then port, without repeats (as the tracker hands them): {@link inOrder} has nothing to do. */
  readonly ordered: boolean;
}

/**
 * The usable endpoints, checked in one pass that parses each address once; the list itself when all of
 * them are usable (the common case: no copy for each of a service port's three lists, at every plan).
 */
function usable(eps: readonly Endpoint[]): Usable {
  let kept: Endpoint[] | undefined;
  let ordered = true;
  let previous = -1;
  for (let i = 0; i < eps.length; i++) {
    const e = eps[i]!;
    const ip = parseIpv4(e.ip);
    if (ip === undefined || !validPort(e.port)) {
      kept ??= eps.slice(0, i);
      continue;
    }
    kept?.push(e);
    const key = ip * 65536 + e.port;
    if (key <= previous) ordered = false;
    previous = key;
  }
  return { endpoints: kept ?? eps, ordered };
}

/** An endpoint's place in address-then-port order as one number (a 32-bit address and a port fit exactly). */
function orderKey(e: Endpoint): number {
  return parseIpv4(e.ip)! * 65536 + e.port;
}

/** The endpoints by address then port, without repeats (the later of two at one address wins). */
function inOrder({ endpoints, ordered }: Usable): readonly Endpoint[] {
  // The tracker hands endpoint lists sorted and without repeats: usable() checked that instead of a sort
  // for every service port of every plan.
  if (ordered) return endpoints;
  const byKey = new Map<number, Endpoint>();
  for (const x of endpoints) byKey.set(orderKey(x), x);
  return [...byKey].sort(([x], [y]) => x - y).map(([, x]) => x);
}

/** Both lists merged by address then port, without repeats (a local endpoint wins over a cluster one). */
function reachable(cluster: Usable, local: Usable): readonly Endpoint[] {
  const a = inOrder(cluster);
  const b = inOrder(local);
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Endpoint[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ka = orderKey(a[i]!);
    const kb = orderKey(b[j]!);
    if (ka < kb) {
      out.push(a[i++]!);
    } else {
      if (ka === kb) i++;
      out.push(b[j++]!);
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
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
  // The tracker hands one array for several lists when they hold the same endpoints (all ready, say):
  // each array is checked once.
  const all = usable(sp.allEndpoints);
  const cluster = sp.clusterEndpoints === sp.allEndpoints ? all : usable(sp.clusterEndpoints);
  const local = sp.localEndpoints === sp.allEndpoints ? all : usable(sp.localEndpoints);
  const allEndpoints = all.endpoints;
  const clusterEndpoints = cluster.endpoints;
  const localEndpoints = local.endpoints;

  const internalPolicyLocal = sp.internalTrafficPolicy === 'Local';
  const externalPolicyLocal = sp.externalTrafficPolicy === 'Local';
  const externallyAccessible = nodePort !== 0 || externalIPs.length > 0 || loadBalancerIPs.length > 0;
  const usesClusterEndpoints = !internalPolicyLocal || externallyAccessible;
  const usesLocalEndpoints = internalPolicyLocal || (externalPolicyLocal && externallyAccessible);
  const hasEndpoints =
    clusterEndpoints.length > 0 || allEndpoints.some((e) => e.ready || (e.serving && e.terminating));
  const usesClusterChain = clusterEndpoints.length > 0 && usesClusterEndpoints;
  const usesLocalChain = localEndpoints.length > 0 && usesLocalEndpoints;

  const none: Usable = { endpoints: [], ordered: true };
  const reachableEndpoints = reachable(usesClusterChain ? cluster : none, usesLocalChain ? local : none);

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
