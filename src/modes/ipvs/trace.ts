/**
 * `kproxy trace --proxy-mode ipvs`: which virtual server a packet hits, what the iptables rules around
 * IPVS do to it (source-range firewall, masquerade, reject of unserved VIP ports), and which real servers
 * the scheduler may choose, with probabilities.
 *
 * @module
 */

import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { TracePacket, TraceResult } from '../../contracts/trace.ts';
import { hostPort } from '../../kernel/ipvs.ts';
import { UNDECIDED_INTERFACE_NOTE } from '../../trace/local_detection_note.ts';
import { iptablesLocalMatch, isLocalPacket, localMatchFor } from '../common/local_detector.ts';
import { ipPortEntry, ipPortIpEntry, ipsetName } from './ipsets.ts';
import { cidrsContain, familyOf, type IpvsPlan, type PlannedVirtualServer } from './plan.ts';

/** How each scheduler picks, for the trace path. */
const SCHEDULER_NOTES: Record<string, string> = {
  rr: 'rr: round robin, each new connection goes to the next real server in turn',
  wrr: 'wrr: weighted round robin, in proportion to the weights',
  lc: 'lc: least connections; with equal load every real server is equally likely',
  wlc: 'wlc: weighted least connections; with equal load, in proportion to the weights',
  lblc: 'lblc: locality-based least connections (by destination); with equal load, equally likely',
  lblcr: 'lblcr: locality-based least connections with replication; with equal load, equally likely',
  sed: 'sed: shortest expected delay; with equal load, in proportion to the weights',
  nq: 'nq: never queue (an idle real server first, else shortest expected delay)',
  sh: 'sh: source hashing, deterministic per client address; which real server depends on the kernel hash table, so all are shown as equally likely',
  mh: 'mh: Maglev hashing of the client address and port (mh-port), deterministic per connection tuple; all are shown as equally likely',
  dh: 'dh: destination hashing, deterministic per destination (the VIP): every client reaches the same real server; all are shown as equally likely',
};

/**
 * Walks one packet through an ipvs plan (of the packet's family: an IPv6 packet through the IPv6 plan,
 * whose backends print as `[addr]:port`).
 *
 * @param plan the plan
 * @param options the plan options (masquerade flags)
 * @param packet source, destination, port, protocol
 * @returns verdict, masquerade, backends with probabilities, and the path
 * @example traceIpvs(plan, options, { source: '198.18.5.1', destination: '198.18.0.10', port: 80, protocol: 'TCP' })
 */
export function traceIpvs(plan: IpvsPlan, options: PlanOptions, packet: TracePacket): TraceResult {
  const key = `${packet.protocol}/${hostPort(packet.destination, packet.port)}`;
  const vs = plan.virtualServers.find((v) => v.key === key);
  const family = familyOf(packet.destination);
  if (family !== plan.family) {
    return {
      verdict: 'NONE',
      masquerade: false,
      backends: [],
      path: [
        `${packet.destination} is not ${plan.family}: the ${plan.family} plan has no virtual server for it`,
      ],
    };
  }
  const sets = plan.families.find((f) => f.family === family)?.ipsets ?? [];
  const inSet = (name: Parameters<typeof ipsetName>[0], entry: string) =>
    sets.find((s) => s.name === ipsetName(name, family))?.entries.includes(entry) ?? false;

  if (vs === undefined) {
    if (plan.bindAddresses.includes(packet.destination)) {
      return {
        verdict: 'REJECT',
        masquerade: false,
        backends: [],
        path: [
          `no virtual server ${key}`,
          `filter KUBE-IPVS-FILTER: new connection to ${packet.destination} (in ${ipsetName('KUBE-IPVS-IPS', family)}) on a port no service serves -> REJECT`,
        ],
      };
    }
    return {
      verdict: 'NONE',
      masquerade: false,
      backends: [],
      path: [`no virtual server ${key}: not a service address`],
    };
  }

  const path = [`virtual server ${vs.key} (${vs.role} of ${vs.servicePort}), scheduler ${vs.scheduler}`];
  const entry = ipPortEntry(vs.address, vs.protocol, vs.port);
  if (vs.role === 'loadBalancer' && inSet('KUBE-LOAD-BALANCER-FW', entry)) {
    const cidrs = (
      sets.find((s) => s.name === ipsetName('KUBE-LOAD-BALANCER-SOURCE-CIDR', family))?.entries ?? []
    )
      .filter((e) => e.startsWith(`${entry},`))
      .map((e) => e.slice(entry.length + 1));
    const fromItself =
      packet.source === vs.address &&
      inSet('KUBE-LOAD-BALANCER-SOURCE-IP', ipPortIpEntry(vs.address, vs.protocol, vs.port, vs.address));
    if (!fromItself && !cidrsContain(cidrs, packet.source)) {
      path.push(
        `filter KUBE-PROXY-FIREWALL -> KUBE-SOURCE-RANGES-FIREWALL: ${packet.source} is not in loadBalancerSourceRanges -> DROP`,
      );
      return { verdict: 'DROP', masquerade: false, backends: [], path };
    }
    path.push(
      `filter KUBE-SOURCE-RANGES-FIREWALL: ${packet.source} is in loadBalancerSourceRanges -> RETURN`,
    );
  }
  const masquerade = masqueradeFor(vs, plan, options, packet, inSet, path);
  if (vs.realServers.length === 0) {
    path.push(
      `no real server: IPVS leaves the packet to the local stack, which refuses it (TCP reset, ${family === 'IPv4' ? 'ICMP' : 'ICMPv6'} unreachable)`,
    );
    return { verdict: 'REJECT', masquerade: false, backends: [], path };
  }
  path.push(SCHEDULER_NOTES[vs.scheduler] ?? `${vs.scheduler}: scheduler`);
  if (vs.persistentTimeout !== undefined) {
    path.push(
      `persistent ${vs.persistentTimeout} s (ClientIP affinity): a client stays on the real server it first reached`,
    );
  }
  const usable = vs.realServers.filter((rs) => rs.weight > 0);
  const hashing = ['sh', 'mh', 'dh', 'lc', 'lblc', 'lblcr', 'nq'].includes(vs.scheduler);
  const total = usable.reduce((sum, rs) => sum + (hashing ? 1 : rs.weight), 0);
  const backends = usable.map((rs) => ({
    address: hostPort(rs.address, rs.port),
    probability: (hashing ? 1 : rs.weight) / total,
  }));
  for (const rs of usable) {
    if (
      rs.address === packet.source &&
      inSet('KUBE-LOOP-BACK', ipPortIpEntry(rs.address, vs.protocol, rs.port, rs.address))
    ) {
      path.push(
        `nat KUBE-POSTROUTING: hairpin to ${hostPort(rs.address, rs.port)} (in ${ipsetName('KUBE-LOOP-BACK', family)}) -> MASQUERADE`,
      );
    }
  }
  path.push(`-> ${backends.map((b) => b.address).join(', ')} (masquerading NAT)`);
  return { verdict: 'DNAT', masquerade, backends, path };
}

function masqueradeFor(
  vs: PlannedVirtualServer,
  plan: IpvsPlan,
  options: PlanOptions,
  packet: TracePacket,
  inSet: (
    name:
      | 'KUBE-LOAD-BALANCER-LOCAL'
      | 'KUBE-EXTERNAL-IP'
      | 'KUBE-NODE-PORT-LOCAL-TCP'
      | 'KUBE-NODE-PORT-LOCAL-UDP'
      | 'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
    entry: string,
  ) => boolean,
  path: string[],
): boolean {
  const entry = ipPortEntry(vs.address, vs.protocol, vs.port);
  const mark = (why: string) => {
    path.push(`${why} -> KUBE-MARK-MASQ (masquerade in KUBE-POSTROUTING)`);
    return true;
  };
  switch (vs.role) {
    case 'clusterIP': {
      if (options.masqueradeAll) return mark('nat KUBE-SERVICES: KUBE-CLUSTER-IP with --masquerade-all');
      const local = localMatchFor(options, familyOf(vs.address) === 'IPv4' ? 4 : 6, []);
      if (local !== undefined) {
        const isLocal = isLocalPacket(local, {
          inSource: (cidr) => cidrsContain([cidr], packet.source),
          // The node's own packets have no input interface.
          inInterface: packet.inInterface ?? (options.nodeIPs.includes(packet.source) ? '' : undefined),
        });
        if (isLocal === undefined) path.push(UNDECIDED_INTERFACE_NOTE);
        if (isLocal !== true)
          return mark(`nat KUBE-SERVICES: KUBE-CLUSTER-IP ${iptablesLocalMatch(local, true)} (not local)`);
        return false;
      }
      if (plan.bindAddresses.includes(packet.source))
        return mark('nat KUBE-SERVICES: KUBE-CLUSTER-IP from a VIP source (src,dst)');
      return false;
    }
    case 'externalIP':
      if (inSet('KUBE-EXTERNAL-IP', entry)) return mark('nat KUBE-SERVICES: KUBE-EXTERNAL-IP');
      path.push('nat KUBE-SERVICES: KUBE-EXTERNAL-IP-LOCAL (externalTrafficPolicy Local): source kept');
      return false;
    case 'loadBalancer':
      if (inSet('KUBE-LOAD-BALANCER-LOCAL', entry)) {
        path.push('nat KUBE-LOAD-BALANCER: KUBE-LOAD-BALANCER-LOCAL -> RETURN (source kept)');
        return false;
      }
      return mark('nat KUBE-SERVICES -> KUBE-LOAD-BALANCER');
    case 'nodePort': {
      const local =
        vs.protocol === 'SCTP'
          ? inSet('KUBE-NODE-PORT-LOCAL-SCTP-HASH', entry)
          : inSet(
              vs.protocol === 'TCP' ? 'KUBE-NODE-PORT-LOCAL-TCP' : 'KUBE-NODE-PORT-LOCAL-UDP',
              String(vs.port),
            );
      if (local) {
        path.push('nat KUBE-NODE-PORT: local node port -> RETURN (source kept)');
        return false;
      }
      return mark(`nat KUBE-SERVICES -> KUBE-NODE-PORT: node port ${vs.port}/${vs.protocol}`);
    }
    default: {
      const never: never = vs.role;
      throw new TypeError(`Unknown role: ${String(never)}`);
    }
  }
}
