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
   * Families an earlier sync programmed. Each one stays in the plan even when no virtual server needs
   * it any more, with every set empty and only the fixed rules, so that a sync empties what it
   * programmed instead of leaving it behind. `kproxy rules` and `kproxy trace` pass none.
   */
  readonly servedFamilies?: readonly IPFamily[] | undefined;
}

/** Everything the ipvs mode programs. */
export interface IpvsPlan {
  /** Sorted by key. */
  readonly virtualServers: readonly PlannedVirtualServer[];
  /** Addresses for kube-ipvs0, sorted. */
  readonly bindAddresses: readonly string[];
  /**
   * IPv4 always; IPv6 when some virtual server is IPv6; then, emptied, every served family
   * ({@link IpvsPlanContext}) that is not already there.
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
 * Plans the ipvs mode for a state.
 *
 * @param state the services and their endpoints
 * @param options the flags that shape the plan
 * @param context what the Proxier programmed before (the families it must keep emptied)
 * @returns the plan
 * @throws {IpvsSchedulerError} when `options.ipvsScheduler` is not an IPVS scheduler
 * @example const plan = planIpvs(state, options); plan.virtualServers[0]?.key // 'TCP/198.18.0.10:80'
 */
export function planIpvs(state: ProxyState, options: PlanOptions, context: IpvsPlanContext = {}): IpvsPlan {
  const fallback = defaultScheduler(options.ipvsScheduler);
  const nodeIPs = nodePortAddresses(options);
  const warnings: string[] = [];
  const servers = new Map<string, PlannedVirtualServer>();
  const sets = new Map<string, Set<string>>();
  const lbNoNodeAccess: { ip: string; protocol: string; port: number }[] = [];
  const entry = (name: IpvsSetName, family: IPFamily, value: string) => {
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

    for (const local of sp.allEndpoints.filter((e) => e.isLocal)) {
      entry('KUBE-LOOP-BACK', familyOf(local.ip), ipPortIpEntry(local.ip, sp.protocol, local.port, local.ip));
    }
    for (const ip of sp.clusterIPs) {
      if (add('clusterIP', ip, sp.port, sp.internalEndpoints, true)) {
        entry('KUBE-CLUSTER-IP', familyOf(ip), ipPortEntry(ip, sp.protocol, sp.port));
      }
    }
    const externalLocal = sp.externalTrafficPolicy === 'Local';
    for (const ip of sp.externalIPs) {
      if (add('externalIP', ip, sp.port, sp.externalEndpoints, !options.nodeIPs.includes(ip))) {
        entry(
          externalLocal ? 'KUBE-EXTERNAL-IP-LOCAL' : 'KUBE-EXTERNAL-IP',
          familyOf(ip),
          ipPortEntry(ip, sp.protocol, sp.port),
        );
      }
    }
    for (const ip of sp.loadBalancerIPs) {
      if (!add('loadBalancer', ip, sp.port, sp.externalEndpoints, !options.nodeIPs.includes(ip))) continue;
      const family = familyOf(ip);
      const lb = ipPortEntry(ip, sp.protocol, sp.port);
      entry('KUBE-LOAD-BALANCER', family, lb);
      if (externalLocal) entry('KUBE-LOAD-BALANCER-LOCAL', family, lb);
      const ranges = sp.loadBalancerSourceRanges.filter(
        (cidr) => familyOf(cidr.split('/')[0] ?? '') === family,
      );
      if (ranges.length === 0) continue;
      entry('KUBE-LOAD-BALANCER-FW', family, lb);
      for (const cidr of ranges.flatMap(ipsetNets))
        entry('KUBE-LOAD-BALANCER-SOURCE-CIDR', family, ipPortNetEntry(ip, sp.protocol, sp.port, cidr));
      // The node reaches an LB IP of its own directly (not through the LB): allow it when a range covers it.
      if (nodeIPs.some((node) => cidrsContain(ranges, node))) {
        entry('KUBE-LOAD-BALANCER-SOURCE-IP', family, ipPortIpEntry(ip, sp.protocol, sp.port, ip));
      } else {
        lbNoNodeAccess.push({ ip, protocol: sp.protocol.toLowerCase(), port: sp.port });
      }
    }
    if (sp.nodePort !== 0) addNodePort(sp, nodeIPs, add, entry, externalLocal);
    if (sp.healthCheckNodePort !== 0) {
      for (const family of new Set(nodeIPs.map(familyOf)))
        entry('KUBE-HEALTH-CHECK-NODE-PORT', family, String(sp.healthCheckNodePort));
    }
  }

  // IPv4 first, then IPv6; within a family by key.
  const virtualServers = [...servers.values()].sort(
    (a, b) =>
      Number(familyOf(a.address) === 'IPv6') - Number(familyOf(b.address) === 'IPv6') ||
      compareKeys(a.key, b.key),
  );
  const bindAddresses = [...new Set(virtualServers.filter((v) => v.bind).map((v) => v.address))].sort();
  for (const address of bindAddresses) entry('KUBE-IPVS-IPS', familyOf(address), address);

  const familyList: IPFamily[] = virtualServers.some((v) => familyOf(v.address) === 'IPv6')
    ? ['IPv4', 'IPv6']
    : ['IPv4'];
  const families = familyList.map((family) =>
    planFamily(
      family,
      sets,
      options,
      lbNoNodeAccess.filter((e) => familyOf(e.ip) === family),
      warnings,
    ),
  );
  for (const family of context.servedFamilies ?? []) {
    // An emptied family serves nothing, so its warnings (a second cluster CIDR) would only be noise.
    if (!families.some((f) => f.family === family))
      families.push(planFamily(family, new Map(), options, [], []));
  }
  return { virtualServers, bindAddresses, families, warnings };
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
  entry: (name: IpvsSetName, family: IPFamily, value: string) => void,
  local: boolean,
): void {
  for (const ip of nodeIPs) {
    if (!add('nodePort', ip, sp.nodePort, sp.externalEndpoints, false)) continue;
    const family = familyOf(ip);
    switch (sp.protocol) {
      case 'TCP':
      case 'UDP': {
        const suffix = sp.protocol;
        entry(`KUBE-NODE-PORT-${suffix}`, family, String(sp.nodePort));
        if (local) entry(`KUBE-NODE-PORT-LOCAL-${suffix}`, family, String(sp.nodePort));
        break;
      }
      case 'SCTP':
        entry('KUBE-NODE-PORT-SCTP-HASH', family, ipPortEntry(ip, 'SCTP', sp.nodePort));
        if (local) entry('KUBE-NODE-PORT-LOCAL-SCTP-HASH', family, ipPortEntry(ip, 'SCTP', sp.nodePort));
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
