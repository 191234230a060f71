/**
 * The iptables mode's plan: kube-proxy's iptables rules for a {@link ProxyState}, as a pure value
 * (tables → chains → rules, in a stable order). Semantics follow upstream's proxier (pkg/proxy/iptables,
 * 1.28+): KUBE-SERVICES → KUBE-SVC/KUBE-SVL (traffic policies) → KUBE-SEP (one per endpoint), KUBE-EXT
 * for external destinations, KUBE-FW for loadBalancerSourceRanges, REJECT/DROP in the filter table.
 *
 * One plan is one IP family's (`options.ipFamily`, IPv4 when unset), as upstream runs one proxier per
 * family: the IPv4 plan is iptables' input, the IPv6 plan ip6tables' (host addresses `/128`, the loopback
 * `::1/128`, REJECT with `icmp6-port-unreachable`, `recent` masks of 128 bits, endpoints `[addr]:port`).
 * Addresses of the other family in the state are ignored.
 *
 * Deliberate differences (see docs/iptables-mode.md): no localhost NodePorts;
 * in large-cluster mode (over 1000 endpoints, when upstream drops comments) remote endpoints of services
 * without session affinity are DNATed from the policy chain without a KUBE-SEP chain of their own.
 *
 * The plan is built per service port ({@link ServicePortRules}) and then assembled, so that an applier
 * can re-plan only the service ports that changed ({@link PlanReuse}).
 *
 * @module
 */

import type { PlanOptions } from '../../contracts/plan_options.ts';
import {
  cidrContainsIp,
  formatCidr,
  formatIp,
  type IpAddress,
  type IpCidr,
  LOOPBACK_CIDR,
  LOOPBACK_CIDR6,
  parseCidr,
  parseIp,
} from '../../kernel/iptables_address.ts';
import { type ChainRules, commentMatch, type TableRules } from '../../kernel/iptables_restore.ts';
import type {
  Endpoint,
  IPFamily,
  ProxyState,
  ServicePortKey,
  ServicePortState,
  StateChange,
} from '../../model/types.ts';
import {
  forwardChain,
  type JumpRule,
  KUBE_EXTERNAL_SERVICES,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  markMasqChain,
  masqueradeMark,
  postroutingChain,
} from '../common/iptables_base_chains.ts';
import { iptablesLocalMatch, type LocalMatch, localMatchFor } from '../common/local_detector.ts';
import { servicePortPolicy } from '../common/service_port_policy.ts';
import { endpointChainName, serviceChainNames } from './chain_names.ts';
import { IPTABLES_JUMPS } from './jumps.ts';

/** Above this many endpoints, rules drop per-endpoint comments (as upstream) and remote KUBE-SEP chains. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** What a UDP service port needs for conntrack cleanup (stale entries to removed endpoints). */
export interface UdpConntrackTargets {
  /** Cluster IP, external IPs and load-balancer IPs. */
  readonly serviceIPs: readonly string[];
  /** 0 when none. */
  readonly nodePort: number;
  /** IPs of every endpoint the rules can DNAT to. */
  readonly endpointIPs: readonly string[];
}

/** The rules one service port contributes, per chain. Arrays are shared between plans when unchanged. */
export interface ServicePortRules {
  readonly key: ServicePortKey;
  /** nat KUBE-SERVICES. */
  readonly natServices: readonly string[];
  /** nat KUBE-NODEPORTS. */
  readonly natNodePorts: readonly string[];
  /** filter KUBE-SERVICES (REJECT / DROP for the cluster IP). */
  readonly filterServices: readonly string[];
  /** filter KUBE-EXTERNAL-SERVICES (REJECT / DROP for external destinations). */
  readonly filterExternalServices: readonly string[];
  /** filter KUBE-NODEPORTS (health check node port). */
  readonly filterNodePorts: readonly string[];
  /** filter KUBE-PROXY-FIREWALL (DROP for load-balancer traffic not accepted by KUBE-FW-). */
  readonly filterFirewall: readonly string[];
  /** The service port's own nat chains (KUBE-EXT-, KUBE-FW-, KUBE-SVC-, KUBE-SVL-, KUBE-SEP-). */
  readonly natChains: readonly ChainRules[];
  /** Set for UDP service ports. */
  readonly udp: UdpConntrackTargets | undefined;
  /** Endpoints of the plan's family known for the port (counts toward large-cluster mode). */
  readonly endpointCount: number;
}

/** The iptables mode's plan. */
export interface IptablesPlan {
  /** The family planned: IPv4 for iptables, IPv6 for ip6tables. */
  readonly ipFamily: IPFamily;
  /** filter then nat, each with its chains in declaration order (what iptables-restore gets). */
  readonly tables: readonly TableRules[];
  /** Jumps from built-in chains, ensured by the applier (not part of the restore input of a sync). */
  readonly jumps: readonly JumpRule[];
  /** Per service port, in key order. */
  readonly servicePorts: ReadonlyMap<ServicePortKey, ServicePortRules>;
  readonly largeClusterMode: boolean;
  /** The masquerade mark, e.g. `0x4000`. */
  readonly mark: string;
  /** Inputs that were skipped (e.g. a second cluster CIDR of the family), for logs. */
  readonly warnings: readonly string[];
}

/** Re-plan only what changed: service ports not in `change` keep their rules from `previous`. */
export interface PlanReuse {
  readonly previous: IptablesPlan;
  readonly change: StateChange;
}

interface PlanContext {
  readonly family: IPFamily;
  readonly mark: string;
  readonly largeClusterMode: boolean;
  readonly masqueradeAll: boolean;
  /** How pod traffic of the family is told apart (`--detect-local-mode`); undefined when it cannot be. */
  readonly local: LocalMatch | undefined;
  readonly nodeIPs: readonly IpAddress[];
  /** What the family's tool writes for one host: `/32` or `/128`. */
  readonly hostSuffix: string;
  /** The `recent` match's mask for one host, as the save tool prints it. */
  readonly recentMask: string;
  /** REJECT as the save tool prints it (the default of each: ICMP, or ICMPv6, port unreachable). */
  readonly reject: string;
}

/** The per-family words of the rules (upstream's proxier differs by family only in these). */
const FAMILY_WORDS: Record<IPFamily, Pick<PlanContext, 'hostSuffix' | 'recentMask' | 'reject'>> = {
  IPv4: {
    hostSuffix: '/32',
    recentMask: '255.255.255.255',
    reject: 'REJECT --reject-with icmp-port-unreachable',
  },
  IPv6: {
    hostSuffix: '/128',
    recentMask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    reject: 'REJECT --reject-with icmp6-port-unreachable',
  },
};

/**
 * An endpoint as upstream writes it (`ip:port`, `[ip]:port` for IPv6: Go's JoinHostPort), in chain names,
 * comments and DNAT targets.
 *
 * @param ep the endpoint
 * @returns e.g. `10.180.0.1:80` or `[2001:2:0:c1::2]:80`
 * @example hostPortOf(endpointAt('[2001:2::5]:80')) // '[2001:2::5]:80'
 */
export function hostPortOf(ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

const probabilities: string[] = [];

/** Upstream writes 1/n with 10 decimals; cached since it is computed for every endpoint. */
function probability(n: number): string {
  let p = probabilities[n];
  if (p === undefined) {
    p = (1 / n).toFixed(10);
    probabilities[n] = p;
  }
  return p;
}

/**
 * Plans the rules of one service port. Pure; exported for the applier's incremental planning and tests.
 *
 * @param sp the service port
 * @param ctx options shared by all service ports
 * @returns its rules, or undefined when it has no cluster IP of the plan's family
 */
function planServicePort(sp: ServicePortState, ctx: PlanContext): ServicePortRules | undefined {
  const policy = servicePortPolicy(sp, ctx.family);
  if (policy === undefined) return undefined;
  const {
    clusterIP,
    externalIPs,
    loadBalancerIPs,
    sourceRanges,
    nodePort,
    clusterEndpoints,
    localEndpoints,
    internalPolicyLocal,
    externalPolicyLocal,
    hasEndpoints,
    hasInternalEndpoints,
    hasExternalEndpoints,
    usesClusterChain,
    usesLocalChain,
    usesExternalChain,
  } = policy;
  const names = serviceChainNames(sp);
  const svcName = names.portName;
  const proto = sp.protocol.toLowerCase();
  const internalChain = internalPolicyLocal ? names.local : names.cluster;
  const externalPolicyChain = externalPolicyLocal ? names.local : names.cluster;
  const usesFwChain = hasEndpoints && loadBalancerIPs.length > 0 && sourceRanges.length > 0;
  const lbChain = usesFwChain ? names.firewall : names.external;

  let internalReject = '';
  let internalRejectComment = '';
  let externalReject = '';
  let externalRejectComment = '';
  if (!hasEndpoints) {
    internalReject = externalReject = ctx.reject;
    internalRejectComment = externalRejectComment = `${svcName} has no endpoints`;
  } else {
    if (!hasInternalEndpoints) {
      internalReject = 'DROP';
      internalRejectComment = `${svcName} has no local endpoints`;
    }
    if (!hasExternalEndpoints) {
      externalReject = 'DROP';
      externalRejectComment = `${svcName} has no local endpoints`;
    }
  }

  const portMatch = `-m ${proto} --dport ${sp.port}`;
  const toVIP = (ip: string, comment: string): string =>
    `-d ${ip}${ctx.hostSuffix} -p ${proto} ${commentMatch(comment)} ${portMatch}`;

  const natServices: string[] = [];
  const natNodePorts: string[] = [];
  const filterServices: string[] = [];
  const filterExternalServices: string[] = [];
  const filterNodePorts: string[] = [];
  const filterFirewall: string[] = [];
  const natChains: ChainRules[] = [];

  // Cluster IP.
  if (hasInternalEndpoints) {
    natServices.push(`${toVIP(clusterIP, `${svcName} cluster IP`)} -j ${internalChain}`);
  } else {
    filterServices.push(`${toVIP(clusterIP, internalRejectComment)} -j ${internalReject}`);
  }

  // External IPs.
  for (const ip of externalIPs) {
    if (hasEndpoints) natServices.push(`${toVIP(ip, `${svcName} external IP`)} -j ${names.external}`);
    if (!hasExternalEndpoints) {
      filterExternalServices.push(`${toVIP(ip, externalRejectComment)} -j ${externalReject}`);
    }
  }

  // Load-balancer IPs.
  for (const ip of loadBalancerIPs) {
    if (hasEndpoints) natServices.push(`${toVIP(ip, `${svcName} loadbalancer IP`)} -j ${lbChain}`);
    if (usesFwChain) {
      filterFirewall.push(`${toVIP(ip, `${svcName} traffic not accepted by ${names.firewall}`)} -j DROP`);
    }
  }
  if (!hasExternalEndpoints) {
    for (const ip of loadBalancerIPs)
      filterExternalServices.push(`${toVIP(ip, externalRejectComment)} -j ${externalReject}`);
  }

  // Node ports. (Not subject to loadBalancerSourceRanges, as upstream.)
  if (nodePort !== 0) {
    if (hasEndpoints) {
      natNodePorts.push(
        `-p ${proto} ${commentMatch(svcName)} -m ${proto} --dport ${nodePort} -j ${names.external}`,
      );
    }
    if (!hasExternalEndpoints) {
      filterExternalServices.push(
        `-p ${proto} ${commentMatch(externalRejectComment)} -m addrtype --dst-type LOCAL -m ${proto} --dport ${nodePort} -j ${externalReject}`,
      );
    }
  }

  // Health check node port: always accepted, whether or not this node has local endpoints.
  if (policy.healthCheckNodePort !== 0) {
    filterNodePorts.push(
      `-p tcp ${commentMatch(`${svcName} health check node port`)} -m tcp --dport ${policy.healthCheckNodePort} -j ACCEPT`,
    );
  }

  // KUBE-EXT: masquerade or short-circuit, then the external policy chain.
  if (usesExternalChain) {
    const rules: string[] = [];
    if (!externalPolicyLocal) {
      rules.push(
        `${commentMatch(`masquerade traffic for ${svcName} external destinations`)} -j ${KUBE_MARK_MASQ}`,
      );
    } else {
      if (ctx.local !== undefined && usesClusterChain) {
        // Pods reaching an external destination behave as if they went out to a load balancer and back.
        rules.push(
          `${iptablesLocalMatch(ctx.local, false)} ${commentMatch(`pod traffic for ${svcName} external destinations`)} -j ${names.cluster}`,
        );
      }
      // The node itself: its source would be the external IP (a local address), so masquerade it.
      rules.push(
        `${commentMatch(`masquerade LOCAL traffic for ${svcName} external destinations`)} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
      );
      if (usesClusterChain) {
        rules.push(
          `${commentMatch(`route LOCAL traffic for ${svcName} external destinations`)} -m addrtype --src-type LOCAL -j ${names.cluster}`,
        );
      }
    }
    if (hasExternalEndpoints) rules.push(`-j ${externalPolicyChain}`);
    natChains.push({ name: names.external, rules });
  }

  // KUBE-FW: loadBalancerSourceRanges.
  if (usesFwChain) {
    const rules: string[] = [];
    const lbComment = commentMatch(`${svcName} loadbalancer IP`);
    let allowFromNode = false;
    for (const cidr of sourceRanges) {
      rules.push(`-s ${formatCidr(cidr)} ${lbComment} -j ${names.external}`);
      if (ctx.nodeIPs.some((ip) => cidrContainsIp(cidr, ip))) allowFromNode = true;
    }
    // A VIP-like LB IP is often local to the node: its own requests then come from the LB IP.
    if (allowFromNode) {
      for (const ip of loadBalancerIPs) {
        rules.push(`-s ${ip}${ctx.hostSuffix} ${lbComment} -j ${names.external}`);
      }
    }
    rules.push(commentMatch(`other traffic to ${svcName} will be dropped by ${KUBE_PROXY_FIREWALL}`));
    natChains.push({ name: names.firewall, rules });
  }

  // Policy chains and endpoint chains.
  const affinity = sp.sessionAffinity.type === 'ClientIP' ? sp.sessionAffinity.timeoutSeconds : undefined;
  const sepChains = new Map<string, ChainRules>();
  const inline = (ep: Endpoint): boolean => ctx.largeClusterMode && affinity === undefined && !ep.isLocal;
  const endpointTarget = (ep: Endpoint): string => {
    const hostPort = hostPortOf(ep);
    const chain = endpointChainName(svcName, sp.protocol, hostPort);
    if (!sepChains.has(chain)) {
      const c = ctx.largeClusterMode ? '' : `${commentMatch(svcName)} `;
      const recent =
        affinity === undefined ? '' : `-m recent --set --name ${chain} --mask ${ctx.recentMask} --rsource `;
      sepChains.set(chain, {
        name: chain,
        rules: [
          `-s ${ep.ip}${ctx.hostSuffix} ${c}-j ${KUBE_MARK_MASQ}`,
          `-p ${proto} ${c}${recent}-j DNAT --to-destination ${hostPort}`,
        ],
      });
    }
    return chain;
  };
  const policyChain = (name: string, eps: readonly Endpoint[], internalMasq: boolean): ChainRules => {
    const rules: string[] = [];
    if (internalMasq && hasInternalEndpoints) {
      if (ctx.masqueradeAll) {
        rules.push(`${toVIP(clusterIP, `${svcName} cluster IP`)} -j ${KUBE_MARK_MASQ}`);
      } else if (ctx.local !== undefined) {
        // Off-cluster traffic to a cluster IP (a static route to the service range) may bounce off-node.
        rules.push(
          `${iptablesLocalMatch(ctx.local, true)} ${toVIP(clusterIP, `${svcName} cluster IP`)} -j ${KUBE_MARK_MASQ}`,
        );
      }
    }
    const comment = (ep: Endpoint): string =>
      ctx.largeClusterMode ? '' : `${commentMatch(`${svcName} -> ${hostPortOf(ep)}`)} `;
    if (affinity !== undefined) {
      for (const ep of eps) {
        const sep = endpointTarget(ep);
        rules.push(
          `${comment(ep)}-m recent --rcheck --seconds ${affinity} --reap --name ${sep} --mask ${ctx.recentMask} --rsource -j ${sep}`,
        );
      }
    }
    eps.forEach((ep, i) => {
      const stat =
        i < eps.length - 1 ? `-m statistic --mode random --probability ${probability(eps.length - i)} ` : '';
      if (inline(ep)) {
        rules.push(`-p ${proto} ${stat}-j DNAT --to-destination ${hostPortOf(ep)}`);
      } else {
        rules.push(`${comment(ep)}${stat}-j ${endpointTarget(ep)}`);
      }
    });
    return { name, rules };
  };
  const policyChains: ChainRules[] = [];
  if (usesClusterChain) policyChains.push(policyChain(names.cluster, clusterEndpoints, !internalPolicyLocal));
  if (usesLocalChain) policyChains.push(policyChain(names.local, localEndpoints, internalPolicyLocal));
  natChains.push(...policyChains, ...sepChains.values());

  const reachableIPs = new Set(policy.reachableEndpoints.map((e) => e.ip));
  return {
    key: sp.key,
    natServices,
    natNodePorts,
    filterServices,
    filterExternalServices,
    filterNodePorts,
    filterFirewall,
    natChains,
    udp:
      sp.protocol === 'UDP'
        ? {
            serviceIPs: [clusterIP, ...externalIPs, ...loadBalancerIPs],
            nodePort,
            endpointIPs: [...reachableIPs].sort(),
          }
        : undefined,
    endpointCount: policy.allEndpoints.length,
  };
}

function contextFor(state: ProxyState, options: PlanOptions, warnings: string[]): PlanContext {
  const family = options.ipFamily ?? 'IPv4';
  const local = localMatchFor(options, family === 'IPv6' ? 6 : 4, warnings);
  const v6 = family === 'IPv6';
  let endpoints = 0;
  for (const sp of state.servicePorts.values()) {
    for (const e of sp.allEndpoints) if (e.ip.includes(':') === v6) endpoints++;
  }
  const nodeIPs: IpAddress[] = [];
  for (const text of options.nodeIPs) {
    const ip = parseIp(text, family);
    if (ip !== undefined) nodeIPs.push(ip);
  }
  return {
    family,
    mark: masqueradeMark(options.masqueradeBit),
    largeClusterMode: endpoints > LARGE_CLUSTER_ENDPOINTS,
    masqueradeAll: options.masqueradeAll,
    local,
    nodeIPs,
    ...FAMILY_WORDS[family],
  };
}

/**
 * The last rule of nat KUBE-SERVICES: hand node-local destinations to KUBE-NODEPORTS. With
 * `--nodeport-addresses`, only the node IPs of the family inside those CIDRs; else every local address
 * except the loopback ones (127.0.0.0/8; ::1/128 for IPv6, as upstream, which never offers IPv6
 * localhost NodePorts): kproxy does not offer localhost NodePorts (they need route_localnet=1, a known
 * hole).
 */
function nodePortsJumps(ctx: PlanContext, options: PlanOptions, warnings: string[]): string[] {
  const comment = commentMatch(
    'kubernetes service nodeports; NOTE: this must be the last rule in this chain',
  );
  const { family } = ctx;
  const cidrs: IpCidr[] = [];
  for (const text of options.nodePortAddresses) {
    const cidr = parseCidr(text, family);
    if (cidr !== undefined) cidrs.push(cidr);
  }
  const loopback = family === 'IPv6' ? LOOPBACK_CIDR6 : LOOPBACK_CIDR;
  if (cidrs.length === 0)
    return [`! -d ${formatCidr(loopback)} ${comment} -m addrtype --dst-type LOCAL -j ${KUBE_NODEPORTS}`];
  const out: string[] = [];
  for (const ipText of options.nodeIPs) {
    const ip = parseIp(ipText, family);
    if (ip === undefined || !cidrs.some((c) => cidrContainsIp(c, ip))) continue;
    if (cidrContainsIp(loopback, ip)) {
      warnings.push(`--nodeport-addresses includes ${ipText}: localhost NodePorts are not supported`);
      continue;
    }
    out.push(`-d ${formatIp(ip)}${ctx.hostSuffix} ${comment} -j ${KUBE_NODEPORTS}`);
  }
  return out;
}

/**
 * Plans every rule of the iptables mode for a state.
 *
 * @param state the proxy state
 * @param options the plan flags
 * @param reuse an earlier plan and what changed since, to re-plan only changed service ports
 * @returns the plan
 * @example const plan = planIptables(state, options); renderIptablesPlan(plan)
 */
export function planIptables(state: ProxyState, options: PlanOptions, reuse?: PlanReuse): IptablesPlan {
  const warnings: string[] = [];
  const ctx = contextFor(state, options, warnings);
  const previous =
    reuse !== undefined &&
    reuse.previous.ipFamily === ctx.family &&
    reuse.previous.largeClusterMode === ctx.largeClusterMode &&
    reuse.previous.mark === ctx.mark
      ? reuse.previous
      : undefined;
  const servicePorts = new Map<ServicePortKey, ServicePortRules>();
  const keys = [...state.servicePorts.keys()].sort();
  for (const key of keys) {
    const old =
      previous !== undefined && !reuse!.change.changed.has(key) ? previous.servicePorts.get(key) : undefined;
    const rules = old ?? planServicePort(state.servicePorts.get(key)!, ctx);
    if (rules !== undefined) servicePorts.set(key, rules);
  }
  return assemble(servicePorts, ctx, nodePortsJumps(ctx, options, warnings), warnings);
}

function assemble(
  servicePorts: ReadonlyMap<ServicePortKey, ServicePortRules>,
  ctx: PlanContext,
  nodePortsTail: readonly string[],
  warnings: readonly string[],
): IptablesPlan {
  const fServices: string[] = [];
  const fExternal: string[] = [];
  const fNodePorts: string[] = [];
  const fFirewall: string[] = [];
  const nServices: string[] = [];
  const nNodePorts: string[] = [];
  const perService: ChainRules[] = [];
  for (const sp of servicePorts.values()) {
    fServices.push(...sp.filterServices);
    fExternal.push(...sp.filterExternalServices);
    fNodePorts.push(...sp.filterNodePorts);
    fFirewall.push(...sp.filterFirewall);
    nServices.push(...sp.natServices);
    nNodePorts.push(...sp.natNodePorts);
    for (const c of sp.natChains) perService.push(c);
  }
  nServices.push(...nodePortsTail);
  const filter: TableRules = {
    table: 'filter',
    chains: [
      { name: KUBE_SERVICES, rules: fServices },
      { name: KUBE_EXTERNAL_SERVICES, rules: fExternal },
      forwardChain(ctx.mark),
      { name: KUBE_NODEPORTS, rules: fNodePorts },
      { name: KUBE_PROXY_FIREWALL, rules: fFirewall },
    ],
  };
  const nat: TableRules = {
    table: 'nat',
    chains: [
      { name: KUBE_SERVICES, rules: nServices },
      { name: KUBE_NODEPORTS, rules: nNodePorts },
      postroutingChain(ctx.mark),
      markMasqChain(ctx.mark),
      ...perService,
    ],
  };
  return {
    ipFamily: ctx.family,
    tables: [filter, nat],
    jumps: IPTABLES_JUMPS,
    servicePorts,
    largeClusterMode: ctx.largeClusterMode,
    mark: ctx.mark,
    warnings,
  };
}
