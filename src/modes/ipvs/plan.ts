/**
 * The ipvs mode's plan: a pure function from {@link ProxyState} to the IPVS table, the addresses of the
 * dummy interface, the ipsets and the iptables rules, in a stable order. Upstream's syncProxyRules decides
 * the same things while it applies them; here deciding is separate, so `kproxy rules` and `kproxy trace`
 * read exactly what the Proxier programs.
 *
 * @module
 */
import { BlockList, isIPv6 } from 'node:net';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { IpsetSpec } from '../../kernel/ipset.ts';
import type { TableRules } from '../../kernel/iptables_restore.ts';
import { type IpvsRealServer, type IpvsVirtualServer, virtualServerKey } from '../../kernel/ipvs.ts';
import type { Endpoint, IPFamily, ProxyState, ServicePortKey, ServicePortState } from '../../model/types.ts';
import { localMatchFor } from '../common/local_detector.ts';
import {
  IPVS_SETS,
  type IpvsSetName,
  ipPortEntry,
  ipPortIpEntry,
  ipPortNetEntry,
  ipsetFamily,
  ipsetName,
} from './ipsets.ts';
import { type IptablesRulesInput, ipvsIptablesTables } from './iptables_rules.ts';
import { defaultScheduler, schedulerFlags, serviceScheduler } from './scheduler.ts';

/** What kind of address a virtual server serves. */
export type VirtualServerRole = 'clusterIP' | 'externalIP' | 'loadBalancer' | 'nodePort';

/** Plans one virtual server; false when another service port already claimed its address:port. */
type AddVirtualServer = (
  role: VirtualServerRole,
  address: string,
  port: number,
  endpoints: readonly Endpoint[],
  bind: boolean,
) => boolean;

/** One virtual server of the plan, with its real servers. */
export interface PlannedVirtualServer extends IpvsVirtualServer {
  /** `TCP/198.18.0.1:80`. */
  readonly key: string;
  readonly servicePort: ServicePortKey;
  readonly role: VirtualServerRole;
  /** Sorted by address, then port; all weight 1 (as upstream). */
  readonly realServers: readonly IpvsRealServer[];
  /** True when the address goes on kube-ipvs0 (not for node addresses). */
  readonly bind: boolean;
}

/** The ipsets and iptables rules of one address family. */
export interface IpvsFamilyPlan {
  readonly family: IPFamily;
  /** Every set of the family (also the empty ones: the rules may name them). */
  readonly ipsets: readonly IpsetSpec[];
  /** kproxy's chains of the nat and filter tables, with their rules. */
  readonly tables: readonly TableRules[];
}

/** What a sync knows beyond the state: see {@link planIpvs}. */
export interface IpvsPlanContext {
  /**
   * Families an earlier sync programmed. The plan's family stays in the plan when it is one of them,
   * even when no virtual server needs it any more, with every set empty and only the fixed rules, so
   * that a sync empties what it programmed instead of leaving it behind. `kproxy rules` and
   * `kproxy trace` pass none.
   */
  readonly servedFamilies?: readonly IPFamily[] | undefined;
}

/** Everything the ipvs mode programs for one IP family (as upstream, one plan and one Proxier per family). */
export interface IpvsPlan {
  /** The family planned (`options.ipFamily`, IPv4 when unset): every address of the plan is of it. */
  readonly family: IPFamily;
  /** Sorted by key. */
  readonly virtualServers: readonly PlannedVirtualServer[];
  /** Addresses for kube-ipvs0, sorted. */
  readonly bindAddresses: readonly string[];
  /**
   * The ipsets and iptables rules of {@link family}, or none: IPv4's always; IPv6's once some virtual
   * server is IPv6, or when an earlier sync programmed them ({@link IpvsPlanContext}), so that a node
   * with no IPv6 Service gets no IPv6 sets or ip6tables rules.
   */
  readonly families: readonly IpvsFamilyPlan[];
  /** Problems that did not stop planning (an invalid scheduler annotation, a VIP claimed twice). */
  readonly warnings: readonly string[];
}

/** The family of an address. */
export function familyOf(address: string): IPFamily {
  // Addresses here are validated IPs (or CIDR prefixes): a colon is IPv6. Cheaper than isIPv6 in sorts.
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

/**
 * Plans the ipvs mode for a state, for the family `options.ipFamily` (IPv4 when unset). The state is
 * normally already that family's view (tracker/family_view.ts); addresses of the other family that are
 * still in it (cluster IPs, external and load-balancer IPs, source ranges, node addresses, endpoints) are
 * ignored, so that a plan never mixes families.
 *
 * @param state the services and their endpoints
 * @param options the flags that shape the plan
 * @param context what the Proxier programmed before (whether it must keep its family, emptied)
 * @returns the plan
 * @throws {IpvsSchedulerError} when `options.ipvsScheduler` is not an IPVS scheduler
 * @example const plan = planIpvs(state, options); plan.virtualServers[0]?.key // 'TCP/198.18.0.10:80'
 */
export function planIpvs(state: ProxyState, options: PlanOptions, context: IpvsPlanContext = {}): IpvsPlan {
  const family = options.ipFamily ?? 'IPv4';
  const ofFamily = (addresses: readonly string[]) => addresses.filter((a) => familyOf(a) === family);
  const fallback = defaultScheduler(options.ipvsScheduler);
  const nodeIPs = ofFamily(nodePortAddresses(options));
  const warnings: string[] = [];
  const servers = new Map<string, PlannedVirtualServer>();
  const sets = new Map<string, Set<string>>();
  const lbNoNodeAccess: { ip: string; protocol: string; port: number }[] = [];
  const entry = (name: IpvsSetName, value: string) => {
    const key = ipsetName(name, family);
    const set = sets.get(key) ?? new Set<string>();
    sets.set(key, set);
    set.add(value);
  };

  for (const sp of state.servicePorts.values()) {
    const { scheduler, warning } = serviceScheduler(sp.annotations, fallback);
    if (warning !== undefined) warnings.push(`${sp.key}: ${warning}`);
    const base = {
      protocol: sp.protocol,
      scheduler,
      flags: schedulerFlags(scheduler),
      persistentTimeout:
        sp.sessionAffinity.type === 'ClientIP' ? sp.sessionAffinity.timeoutSeconds : undefined,
      servicePort: sp.key,
    };
    const add: AddVirtualServer = (role, address, port, endpoints, bind) => {
      const vs: PlannedVirtualServer = {
        ...base,
        key: virtualServerKey({ protocol: sp.protocol, address, port }),
        role,
        address,
        port,
        bind,
        realServers: realServers(endpoints, familyOf(address)),
      };
      const claimed = servers.get(vs.key);
      if (claimed !== undefined) {
        warnings.push(
          `${sp.key}: ${vs.key} is already served by ${claimed.servicePort} (${claimed.role}); skipped`,
        );
        return false;
      }
      servers.set(vs.key, vs);
      return true;
    };

    for (const local of sp.allEndpoints) {
      if (local.isLocal && familyOf(local.ip) === family)
        entry('KUBE-LOOP-BACK', ipPortIpEntry(local.ip, sp.protocol, local.port, local.ip));
    }
    for (const ip of ofFamily(sp.clusterIPs)) {
      if (add('clusterIP', ip, sp.port, sp.internalEndpoints, true)) {
        entry('KUBE-CLUSTER-IP', ipPortEntry(ip, sp.protocol, sp.port));
      }
    }
    const externalLocal = sp.externalTrafficPolicy === 'Local';
    for (const ip of ofFamily(sp.externalIPs)) {
      if (add('externalIP', ip, sp.port, sp.externalEndpoints, !options.nodeIPs.includes(ip))) {
        entry(
          externalLocal ? 'KUBE-EXTERNAL-IP-LOCAL' : 'KUBE-EXTERNAL-IP',
          ipPortEntry(ip, sp.protocol, sp.port),
        );
      }
    }
    for (const ip of ofFamily(sp.loadBalancerIPs)) {
      if (!add('loadBalancer', ip, sp.port, sp.externalEndpoints, !options.nodeIPs.includes(ip))) continue;
      const lb = ipPortEntry(ip, sp.protocol, sp.port);
      entry('KUBE-LOAD-BALANCER', lb);
      if (externalLocal) entry('KUBE-LOAD-BALANCER-LOCAL', lb);
      const ranges = sp.loadBalancerSourceRanges.filter(
        (cidr) => familyOf(cidr.split('/')[0] ?? '') === family,
      );
      if (ranges.length === 0) continue;
      entry('KUBE-LOAD-BALANCER-FW', lb);
      for (const cidr of ranges.flatMap(ipsetNets))
        entry('KUBE-LOAD-BALANCER-SOURCE-CIDR', ipPortNetEntry(ip, sp.protocol, sp.port, cidr));
      // The node reaches an LB IP of its own directly (not through the LB): allow it when a range covers it.
      if (nodeIPs.some((node) => cidrsContain(ranges, node))) {
        entry('KUBE-LOAD-BALANCER-SOURCE-IP', ipPortIpEntry(ip, sp.protocol, sp.port, ip));
      } else {
        lbNoNodeAccess.push({ ip, protocol: sp.protocol.toLowerCase(), port: sp.port });
      }
    }
    if (sp.nodePort !== 0) addNodePort(sp, nodeIPs, add, entry, externalLocal);
    if (sp.healthCheckNodePort !== 0 && nodeIPs.length > 0) {
      entry('KUBE-HEALTH-CHECK-NODE-PORT', String(sp.healthCheckNodePort));
    }
  }

  const virtualServers = [...servers.values()].sort((a, b) => compareKeys(a.key, b.key));
  const bindAddresses = [...new Set(virtualServers.filter((v) => v.bind).map((v) => v.address))].sort();
  for (const address of bindAddresses) entry('KUBE-IPVS-IPS', address);

  const families: IpvsFamilyPlan[] = [];
  if (family === 'IPv4' || virtualServers.length > 0) {
    families.push(planFamily(family, sets, options, lbNoNodeAccess, warnings));
  } else if (context.servedFamilies?.includes(family) === true) {
    // An emptied family serves nothing, so its warnings (a second cluster CIDR) would only be noise.
    families.push(planFamily(family, new Map(), options, [], []));
  }
  return { family, virtualServers, bindAddresses, families, warnings };
}

/**
 * The ipsets and rules of one family, from the set contents.
 *
 * @param family the family
 * @param sets set name → entries (names already family-specific)
 * @param options the plan options
 * @param lbNoNodeAccess LB addresses the node itself may not reach (source ranges without the node)
 * @param warnings collects warnings
 * @returns the family's plan
 */
function planFamily(
  family: IPFamily,
  sets: ReadonlyMap<string, ReadonlySet<string>>,
  options: PlanOptions,
  lbNoNodeAccess: readonly { ip: string; protocol: string; port: number }[],
  warnings: string[],
): IpvsFamilyPlan {
  const ipsets: IpsetSpec[] = IPVS_SETS.map((s) => {
    const name = ipsetName(s.name, family);
    return {
      name,
      type: s.type,
      family: ipsetFamily(family),
      entries: [...(sets.get(name) ?? [])].sort(compareKeys),
    };
  });
  const nonEmpty = new Set(ipsets.filter((s) => s.entries.length > 0).map((s) => s.name));
  const local = localMatchFor(options, family === 'IPv4' ? 4 : 6, warnings);
  const input: IptablesRulesInput = {
    family,
    setName: (name) => ipsetName(name, family),
    isEmpty: (name) => !nonEmpty.has(ipsetName(name, family)),
    comment: (name) => IPVS_SETS.find((s) => s.name === name)?.comment ?? name,
    masqueradeAll: options.masqueradeAll,
    masqueradeBit: options.masqueradeBit,
    local,
    lbNoNodeAccess,
  };
  return { family, ipsets, tables: ipvsIptablesTables(input) };
}

function addNodePort(
  sp: ServicePortState,
  nodeIPs: readonly string[],
  add: AddVirtualServer,
  entry: (name: IpvsSetName, value: string) => void,
  local: boolean,
): void {
  for (const ip of nodeIPs) {
    if (!add('nodePort', ip, sp.nodePort, sp.externalEndpoints, false)) continue;
    switch (sp.protocol) {
      case 'TCP':
      case 'UDP': {
        const suffix = sp.protocol;
        entry(`KUBE-NODE-PORT-${suffix}`, String(sp.nodePort));
        if (local) entry(`KUBE-NODE-PORT-LOCAL-${suffix}`, String(sp.nodePort));
        break;
      }
      case 'SCTP':
        entry('KUBE-NODE-PORT-SCTP-HASH', ipPortEntry(ip, 'SCTP', sp.nodePort));
        if (local) entry('KUBE-NODE-PORT-LOCAL-SCTP-HASH', ipPortEntry(ip, 'SCTP', sp.nodePort));
        break;
      default: {
        const never: never = sp.protocol;
        throw new TypeError(`Unknown protocol: ${String(never)}`);
      }
    }
  }
}

/**
 * The addresses NodePort virtual servers listen on: the node's addresses (`nodeIPs`), restricted to
 * `--nodeport-addresses` when given, never loopback (IPVS does not serve 127.0.0.0/8 without
 * route_localnet tricks; kproxy leaves it out, as upstream does for explicit nodeport addresses).
 *
 * @param options the plan options
 * @returns sorted, unique addresses
 */
export function nodePortAddresses(options: PlanOptions): string[] {
  const usable = options.nodeIPs.filter((ip) => !ip.startsWith('127.') && ip !== '::1');
  const chosen =
    options.nodePortAddresses.length === 0
      ? usable
      : usable.filter((ip) => cidrsContain(options.nodePortAddresses, ip));
  return [...new Set(chosen)].sort(compareKeys);
}

/**
 * Whether any of the CIDRs contains the address.
 *
 * @param cidrs e.g. `['198.18.0.0/15']`
 * @param ip the address
 * @returns true when contained
 */
export function cidrsContain(cidrs: readonly string[], ip: string): boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, prefix] = cidr.split('/');
    if (net === undefined) continue;
    const type = isIPv6(net) ? 'ipv6' : 'ipv4';
    const bits = prefix === undefined ? (type === 'ipv6' ? 128 : 32) : Number(prefix);
    try {
      list.addSubnet(net, bits, type);
    } catch {
      /* a malformed CIDR contains nothing; the flag parser reports it */
    }
  }
  return list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
}

function realServers(endpoints: readonly Endpoint[], family: IPFamily): IpvsRealServer[] {
  const seen = new Set<string>();
  const out: IpvsRealServer[] = [];
  for (const e of endpoints) {
    if (familyOf(e.ip) !== family) continue;
    const key = `${e.ip}:${e.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ address: e.ip, port: e.port, weight: 1 });
  }
  return out;
}

/** Orders keys with embedded numbers naturally (`…:9` before `…:10`), so listings read well. */
function compareKeys(a: string, b: string): number {
  return numericCollator.compare(a, b);
}

// One collator for all comparisons: localeCompare with options builds a new one per call (slow at 10k).
const numericCollator = new Intl.Collator('en', { numeric: true });

/**
 * A source range as hash:net entries: ipset cannot store a prefix of 0, so "everyone" (`0.0.0.0/0`,
 * `::/0`, a common loadBalancerSourceRanges value) becomes its two halves, which allow the same sources.
 *
 * @param cidr a source range
 * @returns the entries for it
 * @example ipsetNets('0.0.0.0/0') // ['0.0.0.0/1', '128.0.0.0/1']
 */
export function ipsetNets(cidr: string): string[] {
  const [address = '', prefix] = cidr.split('/');
  if (prefix === undefined || Number(prefix) !== 0) return [cidr];
  return address.includes(':') ? ['::/1', '8000::/1'] : ['0.0.0.0/1', '128.0.0.0/1'];
}
