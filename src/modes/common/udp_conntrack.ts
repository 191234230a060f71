/**
 * Which UDP conntrack entries a sync leaves stale, as a pure function of the plans before and after it
 * (upstream's conntrack cleanup after syncProxyRules), for every mode whose plan says, per service port,
 * which service IPs, node port and endpoints a UDP service port has (iptables, nftables). UDP has no
 * connections to fail: an entry keeps sending a client's packets where the old rules led, so after a sync
 * the Proxier deletes
 *
 * - the entries DNATed to an endpoint the service port no longer has (through its service IPs and its
 *   node port): the classic stale-DNS bug;
 * - the entries to the service IPs (and node port) of a service port that gets its first endpoint:
 *   packets sent while it had none were REJECTed, and their entries would bypass the new DNAT rules;
 * - the entries to the service IPs of a service port that went away.
 *
 * TCP needs none of this: its connections fail and reconnect through the new rules.
 *
 * @module
 */
import type { Conntrack } from '../../kernel/conntrack.ts';

/** What a UDP service port needs for conntrack cleanup (stale entries to removed endpoints). */
export interface UdpConntrackTargets {
  /** Cluster IP, external IPs and load-balancer IPs. */
  readonly serviceIPs: readonly string[];
  /** 0 when none. */
  readonly nodePort: number;
  /** IPs of every endpoint the rules can DNAT to. */
  readonly endpointIPs: readonly string[];
}

/** A service port as the cleanup reads it: its UDP targets (undefined for TCP and SCTP). */
export interface UdpServicePort {
  readonly udp: UdpConntrackTargets | undefined;
}

/** A plan as the cleanup reads it; unchanged service ports are the same objects in both plans. */
export interface UdpPlan<K> {
  readonly servicePorts: ReadonlyMap<K, UdpServicePort>;
}

/** One deletion of UDP conntrack entries, as the conntrack seam offers them. */
export type UdpConntrackDeletion =
  /** Entries whose original destination is this service IP. */
  | { readonly kind: 'serviceIP'; readonly ip: string }
  /** Entries whose original destination port is this node port. */
  | { readonly kind: 'nodePort'; readonly port: number }
  /** Entries to this service IP DNATed to this endpoint IP. */
  | { readonly kind: 'serviceIPEndpoint'; readonly ip: string; readonly endpointIP: string }
  /** Entries to this node port DNATed to this endpoint IP. */
  | { readonly kind: 'nodePortEndpoint'; readonly port: number; readonly endpointIP: string };

/** The deletions one service port calls for (`old` or `next` undefined: it is new, or it went away). */
function servicePortDeletions(
  old: UdpServicePort | undefined,
  next: UdpServicePort | undefined,
  out: UdpConntrackDeletion[],
): void {
  // Partial planning reuses the rules of an unchanged service port: nothing to compare.
  if (old === next) return;
  const was = old?.udp;
  const now = next?.udp;
  if (was !== undefined) {
    const kept = new Set(now?.endpointIPs ?? []);
    for (const endpointIP of was.endpointIPs) {
      if (kept.has(endpointIP)) continue;
      for (const ip of was.serviceIPs) out.push({ kind: 'serviceIPEndpoint', ip, endpointIP });
      if (was.nodePort !== 0) out.push({ kind: 'nodePortEndpoint', port: was.nodePort, endpointIP });
    }
    if (now === undefined) for (const ip of was.serviceIPs) out.push({ kind: 'serviceIP', ip });
  }
  if (now !== undefined && now.endpointIPs.length > 0 && (was?.endpointIPs.length ?? 0) === 0) {
    for (const ip of now.serviceIPs) out.push({ kind: 'serviceIP', ip });
    if (now.nodePort !== 0) out.push({ kind: 'nodePort', port: now.nodePort });
  }
}

/** `keys` in the order of `map` (one pass over the map only when there are several). */
function inOrderOf<K>(map: ReadonlyMap<K, unknown>, keys: readonly K[]): readonly K[] {
  if (keys.length < 2) return keys;
  const wanted = new Set(keys);
  return [...map.keys()].filter((k) => wanted.has(k));
}

/**
 * The UDP conntrack deletions a sync from `before` to `after` calls for: service ports of `after` in
 * its order, then those that went away.
 *
 * @param before the plan the kernel held (undefined before the first sync: nothing is stale yet)
 * @param after the plan just applied
 * @param keys when `after` was re-planned from `before`: the keys that may differ (a partial sync's
 *   changed and removed service ports), so that a one-endpoint change does not walk every service port
 * @returns the deletions, in the order to run them
 * @example staleUdpConntrack(applied, plan) // [{ kind: 'serviceIPEndpoint', ip: '172.30.0.10', endpointIP: '10.180.0.6' }]
 */
export function staleUdpConntrack<K>(
  before: UdpPlan<K> | undefined,
  after: UdpPlan<K>,
  keys?: Iterable<K>,
): UdpConntrackDeletion[] {
  if (before === undefined) return [];
  const out: UdpConntrackDeletion[] = [];
  if (keys !== undefined) {
    // In `after`'s order, then the removed ones, as below.
    const gone: K[] = [];
    const present: K[] = [];
    for (const key of new Set(keys)) (after.servicePorts.has(key) ? present : gone).push(key);
    for (const key of inOrderOf(after.servicePorts, present)) {
      servicePortDeletions(before.servicePorts.get(key), after.servicePorts.get(key), out);
    }
    for (const key of inOrderOf(before.servicePorts, gone)) {
      servicePortDeletions(before.servicePorts.get(key), undefined, out);
    }
    return out;
  }
  for (const [key, next] of after.servicePorts) servicePortDeletions(before.servicePorts.get(key), next, out);
  for (const [key, old] of before.servicePorts) {
    if (!after.servicePorts.has(key)) servicePortDeletions(old, undefined, out);
  }
  return out;
}

/**
 * The entries a deletion names, for logs.
 *
 * @param deletion the deletion
 * @returns e.g. `172.30.0.10 -> 10.180.0.6`, `:30053`
 * @example describeUdpConntrackDeletion({ kind: 'nodePort', port: 30053 }) // ':30053'
 */
export function describeUdpConntrackDeletion(deletion: UdpConntrackDeletion): string {
  switch (deletion.kind) {
    case 'serviceIP':
      return deletion.ip;
    case 'nodePort':
      return `:${deletion.port}`;
    case 'serviceIPEndpoint':
      return `${deletion.ip} -> ${deletion.endpointIP}`;
    case 'nodePortEndpoint':
      return `:${deletion.port} -> ${deletion.endpointIP}`;
    default: {
      const never: never = deletion;
      throw new TypeError(`Unknown conntrack deletion: ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Runs one deletion through the conntrack seam.
 *
 * @param conntrack the seam
 * @param deletion what to delete
 * @example await deleteUdpConntrack(conntrack, { kind: 'serviceIP', ip: '172.30.0.10' })
 */
export function deleteUdpConntrack(conntrack: Conntrack, deletion: UdpConntrackDeletion): Promise<void> {
  switch (deletion.kind) {
    case 'serviceIP':
      return conntrack.deleteUdpToServiceIP(deletion.ip);
    case 'nodePort':
      return conntrack.deleteUdpToNodePort(deletion.port);
    case 'serviceIPEndpoint':
      return conntrack.deleteUdpServiceNat(deletion.ip, deletion.endpointIP);
    case 'nodePortEndpoint':
      return conntrack.deleteUdpNodePortNat(deletion.port, deletion.endpointIP);
    default: {
      const never: never = deletion;
      throw new TypeError(`Unknown conntrack deletion: ${JSON.stringify(never)}`);
    }
  }
}
