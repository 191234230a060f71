/**
 * The nftables mode's plan: upstream kube-proxy's nftables ruleset (pkg/proxy/nftables, 1.33) for a
 * {@link ProxyState}, as a pure value. One table (`ip kube-proxy`, or `ip6 kube-proxy` for IPv6) holding
 *
 * - base chains on the netfilter hooks that jump to a few fixed chains (fixed_objects.ts);
 * - verdict maps that dispatch in one lookup, whatever the number of services: `service-ips`
 *   (`ip . protocol . port : goto CHAIN`) and `service-nodeports` (`protocol . port : goto CHAIN`), the
 *   no-endpoint maps (`drop` or `goto reject-chain`), `firewall-ips` (loadBalancerSourceRanges), and the
 *   `cluster-ips` and `nodeport-ips` sets;
 * - per service port ({@link NftServicePort}): policy chains choosing an endpoint, an `external-` chain,
 *   a `firewall-` chain;
 * - endpoint maps (`endpoints-tcp-0`, ...): the policy chains pick and DNAT in one rule, `dnat ip to
 *   numgen random mod N offset K map @endpoints-tcp-G`, each chain under its own keys (endpoint_slots.ts).
 *   Upstream goes through one `endpoint-` chain per endpoint instead; kproxy keeps those only for session
 *   affinity (the chain records the client in the endpoint's affinity set). Measured, the endpoint chains
 *   made a full sync at 10 000 services × 10 endpoints take 100 s (docs/nftables-mode.md);
 * - the `hairpin-endpoints` set: endpoints that may reach themselves through a service, masqueraded in
 *   postrouting (upstream marks them in each endpoint chain).
 *
 * The plan is shaped for partial syncs: per-service objects are keyed by service port and replaced as a
 * whole; the shared maps are sorted element lists, so an applier diffs two plans element by element and
 * chain by chain (service ports that `reuse` kept are the same objects, so a reference check suffices).
 *
 * One IP family per plan, as upstream runs one proxier per family: `options.ipFamily` IPv4 (or none)
 * plans table `ip kube-proxy`, IPv6 plans `ip6 kube-proxy` with `ip6` matches, `ipv6_addr` keys and
 * `dnat ip6 to`; the state is the family's view, and addresses of the other family are skipped. Where
 * kproxy departs from upstream, and why: docs/nftables-mode.md.
 *
 * @module
 */
import type { PlanOptions } from '../../contracts/plan_options.ts';
import {
  cidrContainsIp,
  formatIp,
  type IpAddress,
  type IpCidr,
  parseCidr,
  parseIp,
} from '../../kernel/iptables_address.ts';
import type { ProxyState, ServicePortKey, StateChange } from '../../model/types.ts';
import { masqueradeMark } from '../common/iptables_base_chains.ts';
import { localMatchFor } from '../common/local_detector.ts';
import { ipFamilyOfTable, loopbackOf } from './addresses.ts';
import type { SlotsTaken } from './endpoint_slots.ts';
import { baseChains, fixedChains, sharedContainers } from './fixed_objects.ts';
import { CLUSTER_IP_CHAIN_PREFIX, NFT_NAMES, NFT_TABLE } from './names.ts';
import { planPickChains } from './pick_chains.ts';
import { planContainers } from './plan_containers.ts';
import { planServicePorts } from './plan_service_ports.ts';
import type { NftBaseChain, NftChain, NftContainer, NftElement, NftFamily } from './ruleset.ts';
import type { NftServicePort, ServicePortContext } from './service_port.ts';

/** The nftables mode's plan. */
export interface NftablesPlan {
  readonly family: NftFamily;
  /** `kube-proxy`. */
  readonly table: string;
  readonly tableComment: string;
  /** The hooked chains, in the order a packet meets them. */
  readonly baseChains: readonly NftBaseChain[];
  /**
   * The fixed regular chains (dispatch, checks, reject, masquerade), then the shared ClusterIP chains
   * (pick_chains.ts), by protocol and group.
   */
  readonly chains: readonly NftChain[];
  /**
   * The shared sets and maps, then the endpoint maps in use (by protocol, then group), each with every
   * element of every service port, sorted by key.
   */
  readonly containers: readonly NftContainer[];
  /** Optional shared containers this plan does without (nodeport-ips without `--nodeport-addresses`). */
  readonly unusedContainers: readonly NftContainer[];
  /** Per service port, in key order. */
  readonly servicePorts: ReadonlyMap<ServicePortKey, NftServicePort>;
  /** Container name → the service ports with elements in it, in key order (for re-plans: plan_containers.ts). */
  readonly containerSources: ReadonlyMap<string, readonly ServicePortKey[]>;
  /** Container name → keys two service ports claim, as warnings (also in {@link warnings}). */
  readonly containerClashes: ReadonlyMap<string, readonly string[]>;
  /** The endpoint-map slots in use, per protocol (for re-plans: endpoint_slots.ts). */
  readonly slotsTaken: SlotsTaken;
  /** The masquerade mark, e.g. `0x4000`. */
  readonly mark: string;
  /** The flags service ports were planned with; a plan with another one cannot lend its service ports. */
  readonly context: string;
  /** Inputs that were skipped (a second cluster CIDR, loopback node-port addresses, clashing elements). */
  readonly warnings: readonly string[];
}

/** Re-plan only what changed: service ports not in `change` keep their objects from `previous`. */
export interface NftablesPlanReuse {
  readonly previous: NftablesPlan;
  readonly change: StateChange;
}

/**
 * The table family of a plan: `ip` for IPv4 (and when the options name no family), `ip6` for IPv6.
 *
 * @param options the plan options
 * @returns `ip` or `ip6`
 * @example nftFamilyOf({ ...options, ipFamily: 'IPv6' }) // 'ip6'
 */
export function nftFamilyOf(options: Pick<PlanOptions, 'ipFamily'>): NftFamily {
  return options.ipFamily === 'IPv6' ? 'ip6' : 'ip';
}

function contextFor(options: PlanOptions, warnings: string[]): ServicePortContext {
  const family = nftFamilyOf(options);
  const local = localMatchFor(options, family === 'ip' ? 4 : 6, warnings);
  return {
    family,
    mark: masqueradeMark(options.masqueradeBit),
    masqueradeAll: options.masqueradeAll,
    local,
    nodeIPs: options.nodeIPs
      .map((ip) => parseIp(ip, ipFamilyOfTable(family)))
      .filter((n): n is IpAddress => n !== undefined),
  };
}

function contextKey(ctx: ServicePortContext): string {
  return [
    ctx.family,
    ctx.mark,
    ctx.masqueradeAll,
    JSON.stringify(ctx.local ?? null),
    ctx.nodeIPs.join(','),
  ].join(' ');
}

/**
 * The node IPs NodePorts answer on when `--nodeport-addresses` is given (the nodeport-ips set); undefined
 * when it is not (every local address but loopback). Loopback addresses are skipped: kproxy has no
 * localhost NodePorts, as upstream's nftables mode.
 */
function nodePortIPs(family: NftFamily, options: PlanOptions, warnings: string[]): string[] | undefined {
  const ipFamily = ipFamilyOfTable(family);
  const cidrs = options.nodePortAddresses
    .map((c) => parseCidr(c, ipFamily))
    .filter((c): c is IpCidr => c !== undefined);
  if (cidrs.length === 0) return undefined;
  const out = new Set<string>();
  for (const text of options.nodeIPs) {
    const ip = parseIp(text, ipFamily);
    if (ip === undefined || !cidrs.some((c) => cidrContainsIp(c, ip))) continue;
    if (cidrContainsIp(loopbackOf(family), ip)) {
      warnings.push(`--nodeport-addresses includes ${text}: localhost NodePorts are not supported`);
      continue;
    }
    out.add(formatIp(ip));
  }
  return [...out];
}

/**
 * Plans the nftables ruleset for a state.
 *
 * @param state the proxy state
 * @param options the plan flags
 * @param reuse an earlier plan and what changed since, to re-plan only the changed service ports
 * @returns the plan
 * @example const plan = planNftables(state, options); process.stdout.write(renderNftablesPlan(plan))
 */
export function planNftables(
  state: ProxyState,
  options: PlanOptions,
  reuse?: NftablesPlanReuse,
): NftablesPlan {
  const warnings: string[] = [];
  const ctx = contextFor(options, warnings);
  const context = contextKey(ctx);
  const previous = reuse?.previous.context === context ? reuse : undefined;
  const planned = planServicePorts(
    state,
    ctx,
    previous === undefined
      ? undefined
      : {
          servicePorts: previous.previous.servicePorts,
          slotsTaken: previous.previous.slotsTaken,
          change: previous.change,
        },
  );
  const servicePorts = planned.servicePorts;

  const nodePorts = nodePortIPs(ctx.family, options, warnings);
  const given = new Map<string, NftElement[]>();
  if (nodePorts !== undefined) {
    given.set(
      NFT_NAMES.nodePortIPs,
      nodePorts.map((ip) => ({ key: [ip], verdict: undefined, endpoint: undefined, comment: undefined })),
    );
  }
  const containers = planContainers(
    sharedContainers(ctx.family, nodePorts !== undefined),
    servicePorts,
    given,
    previous === undefined
      ? undefined
      : {
          previous: {
            containers: previous.previous.containers,
            sources: previous.previous.containerSources,
            clashes: previous.previous.containerClashes,
          },
          previousPorts: previous.previous.servicePorts,
          touched: planned.touched ?? new Set(),
        },
  );
  for (const c of containers.containers) warnings.push(...(containers.clashes.get(c.name) ?? []));
  const pickChains = planPickChains(
    servicePorts,
    containers.sources,
    previous === undefined
      ? undefined
      : {
          chains: previous.previous.chains.filter((c) => c.name.startsWith(CLUSTER_IP_CHAIN_PREFIX)),
          previousPorts: previous.previous.servicePorts,
          touched: planned.touched ?? new Set(),
        },
  );
  return {
    family: ctx.family,
    table: NFT_TABLE,
    tableComment: 'rules for kube-proxy',
    baseChains: baseChains(),
    chains: [
      ...fixedChains({
        family: ctx.family,
        mark: ctx.mark,
        nodePortIPsSet: nodePorts !== undefined,
        masqueradeAll: ctx.masqueradeAll,
        local: ctx.local,
      }),
      ...pickChains,
    ],
    containers: containers.containers,
    unusedContainers:
      nodePorts === undefined
        ? sharedContainers(ctx.family, true).filter((c) => c.name === NFT_NAMES.nodePortIPs)
        : [],
    servicePorts,
    containerSources: containers.sources,
    containerClashes: containers.clashes,
    slotsTaken: planned.slotsTaken,
    mark: ctx.mark,
    context,
    warnings,
  };
}
