/**
 * How one service port routes traffic, decided once for every kernel mode: its addresses of one IP family
 * (the proxier's: upstream runs one proxier per family, and a plan never mixes them), its usable
 * endpoints of that family, and which of upstream's policy chains it needs. The flags follow upstream's `CategorizeEndpoints`, `UsesClusterEndpoints` and
 * `UsesLocalEndpoints` (pkg/proxy, 1.28+). The iptables and nftables plans both read them here, so that
 * the two modes agree packet for packet. (The ipvs mode decides differently, as upstream's ipvs proxier
 * does: one virtual server per address with the policy's endpoints, no policy chains.)
 *
 * @module
 */
import {
  canonicalIpOf,
  type IpCidr,
  isIpv6Address,
  parseCidr,
  parseIpv4,
} from '../../kernel/iptables_address.ts';
import type { Endpoint, IPFamily, ServicePortState } from '../../model/types.ts';

/** A service port's addresses, endpoints and policy decisions, for one IP family. */
export interface ServicePortPolicy {
  /** The family all the addresses below are of. */
  readonly family: IPFamily;
  /** The first cluster IP of the family, in canonical form. */
  readonly clusterIP: string;
  /** External IPs of the family, canonical. */
  readonly externalIPs: readonly string[];
  /** Load-balancer ingress IPs of the family, canonical. */
  readonly loadBalancerIPs: readonly string[];
  /** `loadBalancerSourceRanges` of the family (malformed ones skipped). */
  readonly sourceRanges: readonly IpCidr[];
  /** 0 when none. */
  readonly nodePort: number;
  /** 0 when none. */
  readonly healthCheckNodePort: number;
  /** Endpoints of the family with a valid port, whatever their conditions. */
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

function canonicalOf(ips: readonly string[], family: IPFamily): string[] {
  const out: string[] = [];
  for (const ip of ips) {
    const canonical = canonicalIpOf(ip, family);
    if (canonical !== undefined) out.push(canonical);
  }
  return out;
}

/**
 * An endpoint's place in address-then-port order as one value, or undefined when a mode cannot program
 * it (an address of another family, an invalid port). The order is the tracker's
 * (`compareEndpoints`): IPv4 numerically, as one number (a 32-bit address and a port fit exactly); IPv6
 * by address text, then port, as one string (NUL sorts before any address character, so a shorter
 * address that is a prefix of a longer one comes first, as it does in the tracker's text comparison).
 */
type OrderKey<K extends number | string> = (e: Endpoint) => K | undefined;

const ipv4Key: OrderKey<number> = (e) => {
  const ip = parseIpv4(e.ip);
  return ip === undefined || !validPort(e.port) ? undefined : ip * 65536 + e.port;
};

const ipv6Key: OrderKey<string> = (e) =>
  isIpv6Address(e.ip) && validPort(e.port) ? `${e.ip}\u0000${String(e.port).padStart(5, '0')}` : undefined;

/** Endpoints that a mode can program (the family's, valid port), and whether they are already in order. */
interface Usable {
  readonly endpoints: readonly Endpoint[];
  /** By address then port, without repeats (as the tracker hands them): {@link inOrder} has nothing to do. */
  readonly ordered: boolean;
}

/**
 * The usable endpoints, checked in one pass that parses each address once; the list itself when all of
 * them are usable (the common case: no copy for each of a service port's three lists, at every plan).
 */
function usable<K extends number | string>(eps: readonly Endpoint[], keyOf: OrderKey<K>): Usable {
  let kept: Endpoint[] | undefined;
  let ordered = true;
  let previous: K | undefined;
  for (let i = 0; i < eps.length; i++) {
    const e = eps[i]!;
    const key = keyOf(e);
    if (key === undefined) {
      kept ??= eps.slice(0, i);
      continue;
    }
    kept?.push(e);
    if (previous !== undefined && key <= previous) ordered = false;
    previous = key;
  }
  return { endpoints: kept ?? eps, ordered };
}

/** The endpoints by address then port, without repeats (the later of two at one address wins). */
function inOrder<K extends number | string>(
  { endpoints, ordered }: Usable,
  keyOf: OrderKey<K>,
): readonly Endpoint[] {
  // The tracker hands endpoint lists sorted and without repeats: usable() checked that instead of a sort
  // for every service port of every plan.
  if (ordered) return endpoints;
  const byKey = new Map<K, Endpoint>();
  for (const x of endpoints) byKey.set(keyOf(x)!, x);
  return [...byKey].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, x]) => x);
}

/** Both lists merged by address then port, without repeats (a local endpoint wins over a cluster one). */
function reachable<K extends number | string>(
  cluster: Usable,
  local: Usable,
  keyOf: OrderKey<K>,
): readonly Endpoint[] {
  const a = inOrder(cluster, keyOf);
  const b = inOrder(local, keyOf);
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Endpoint[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ka = keyOf(a[i]!)!;
    const kb = keyOf(b[j]!)!;
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
 * Decides how a service port routes traffic for the proxier of one IP family. Addresses and endpoints of
 * the other family are ignored (the state handed to a proxier is already its family's view, but a plan
 * must never mix families whatever it gets).
 *
 * @param sp the service port, with endpoints already selected by the tracker
 * @param family the proxier's family (IPv4 when not given)
 * @returns its policy, or undefined when it has no cluster IP of the family or an invalid port (nothing to
 *   program)
 * @example servicePortPolicy(sp, 'IPv6')?.usesClusterChain
 */
export function servicePortPolicy(
  sp: ServicePortState,
  family: IPFamily = 'IPv4',
): ServicePortPolicy | undefined {
  return family === 'IPv6' ? decide(sp, 'IPv6', ipv6Key) : decide(sp, 'IPv4', ipv4Key);
}

function decide<K extends number | string>(
  sp: ServicePortState,
  family: IPFamily,
  keyOf: OrderKey<K>,
): ServicePortPolicy | undefined {
  const clusterIP = canonicalOf(sp.clusterIPs, family)[0];
  if (clusterIP === undefined || !validPort(sp.port)) return undefined;
  const externalIPs = canonicalOf(sp.externalIPs, family);
  const loadBalancerIPs = canonicalOf(sp.loadBalancerIPs, family);
  const sourceRanges: IpCidr[] = [];
  for (const r of sp.loadBalancerSourceRanges) {
    const cidr = parseCidr(r, family);
    if (cidr !== undefined) sourceRanges.push(cidr);
  }
  const nodePort = validPort(sp.nodePort) ? sp.nodePort : 0;
  // The tracker hands one array for several lists when they hold the same endpoints (all ready, say):
  // each array is checked once.
  const all = usable(sp.allEndpoints, keyOf);
  const cluster = sp.clusterEndpoints === sp.allEndpoints ? all : usable(sp.clusterEndpoints, keyOf);
  const local = sp.localEndpoints === sp.allEndpoints ? all : usable(sp.localEndpoints, keyOf);
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
  const reachableEndpoints = reachable(
    usesClusterChain ? cluster : none,
    usesLocalChain ? local : none,
    keyOf,
  );

  return {
    family,
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
