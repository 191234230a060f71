/**
 * The options that shape a plan, shared by every mode, the CLI and the benchmarks.
 *
 * @module
 */
import { ofFamily } from '../model/ip_family.ts';
import type { IPFamily } from '../model/types.ts';

/**
 * How traffic from this node's pods is told apart (kube-proxy's `--detect-local-mode`, pkg/proxy/util
 * localdetector.go): by source CIDR (the cluster CIDR, or the Node's `spec.podCIDRs`), by the bridge the
 * pods sit behind, or by the name prefix of their veth interfaces. Pod traffic to a cluster IP is not
 * masqueraded, and pod traffic to an external destination of a Local-policy service is short-circuited
 * to the cluster endpoints. `None`: nothing is local (no rule that needs it is written).
 */
export type LocalDetector =
  | { readonly mode: 'ClusterCIDR'; readonly cidrs: readonly string[] }
  | { readonly mode: 'NodeCIDR'; readonly cidrs: readonly string[] }
  | { readonly mode: 'BridgeInterface'; readonly name: string }
  | { readonly mode: 'InterfaceNamePrefix'; readonly prefix: string }
  | { readonly mode: 'None' };

/** Linux's IFNAMSIZ less the final NUL: the longest interface name. */
const MAX_INTERFACE_NAME = 15;

/**
 * Why a string cannot be an interface name in a rule, or undefined when it can. Linux refuses an empty
 * name, one of 16 bytes or more, `.`, `..`, and names with `/`, `:` or white space (dev_valid_name);
 * kproxy also refuses what a rule would read as syntax or wildcard (`+` for iptables, `*`, `"` and `\`
 * for nftables) and anything outside printable ASCII.
 *
 * @param name the interface name
 * @returns the problem, or undefined
 * @example interfaceNameProblem('cbr0') // undefined
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'empty';
  if (name.length > MAX_INTERFACE_NAME) return `longer than ${MAX_INTERFACE_NAME} characters`;
  if (name === '.' || name === '..') return 'not an interface name';
  if (!/^[\x21-\x7e]+$/.test(name)) return 'only printable ASCII without spaces is allowed';
  const bad = /[/:+*"\\]/.exec(name);
  if (bad !== null) return `"${bad[0]}" is not allowed`;
  return undefined;
}

/**
 * Why a string cannot be an interface name prefix, or undefined when it can: the rules of
 * {@link interfaceNameProblem}, one character shorter (iptables counts the `+` of `PREFIX+`).
 *
 * @param prefix the prefix
 * @returns the problem, or undefined
 * @example interfaceNamePrefixProblem('veth') // undefined
 */
export function interfaceNamePrefixProblem(prefix: string): string | undefined {
  if (prefix.length > MAX_INTERFACE_NAME - 1) return `longer than ${MAX_INTERFACE_NAME - 1} characters`;
  return interfaceNameProblem(prefix);
}

/**
 * Every flag that shapes a plan. `rules`, `trace` and `run` build this from the same flags, so that what
 * `rules` prints is what `run` programs.
 */
export interface PlanOptions {
  /**
   * The IP family this plan is for (undefined: IPv4). Every mode plans one family at a time, with the
   * state's view of that family and {@link planOptionsForFamily}; nothing in a plan mixes families.
   */
  readonly ipFamily?: IPFamily | undefined;
  /** `--hostname-override` (default: the host name). */
  readonly nodeName: string;
  /** `--node-ip` plus, for `run`, the node's addresses discovered at start (NodePort destinations). */
  readonly nodeIPs: readonly string[];
  /** `--cluster-cidr` (comma-separated in the flag); empty = unknown. */
  readonly clusterCIDRs: readonly string[];
  /**
   * `--detect-local-mode` with its `--pod-bridge-interface` / `--pod-interface-name-prefix`; undefined =
   * ClusterCIDR with {@link clusterCIDRs} (kube-proxy's default).
   */
  readonly localDetector?: LocalDetector | undefined;
  /** `--masquerade-all`. */
  readonly masqueradeAll: boolean;
  /** `--iptables-masquerade-bit` (default 14): the fwmark bit that KUBE-MARK-MASQ sets. */
  readonly masqueradeBit: number;
  /** `--ipvs-scheduler` (default rr). */
  readonly ipvsScheduler: string;
  /** `--nodeport-addresses` CIDRs; empty = all node addresses. */
  readonly nodePortAddresses: readonly string[];
  /** userspace: `--proxy-port-range`, undefined = random free ports. */
  readonly proxyPortRange: { readonly from: number; readonly to: number } | undefined;
  /** userspace: `--udp-idle-timeout` in ms (default 250). */
  readonly udpIdleTimeoutMs: number;
  /**
   * userspace: `--userspace-portals`: install the nat rules that send VIPs to the relay (`on`), never
   * (`off`: local VIPs are served by listening on them directly), or when root and iptables allow (`auto`,
   * the default when undefined).
   */
  readonly userspacePortals?: 'auto' | 'on' | 'off' | undefined;
  /**
   * userspace: `--userspace-relay-engine`: relay TCP on Node's libuv handles (`handles`), on `net.Socket`
   * (`net`), or on handles where this Node offers them (`auto`, the default when undefined).
   */
  readonly userspaceRelayEngine?: 'auto' | 'handles' | 'net' | undefined;
  /** userspace: `--userspace-drain-timeout` in ms: how long relayed connections may finish on stop (10 s). */
  readonly userspaceDrainTimeoutMs?: number | undefined;
  /** ipvs: `--ipvs-strict-arp`, `--ipvs-exclude-cidrs`, `--ipvs-*-timeout` (undefined: none). */
  readonly ipvsTuning?: IpvsTuning | undefined;
}

/** The ipvs mode's node settings (applied by src/modes/ipvs/tuning.ts). */
export interface IpvsTuning {
  /** `--ipvs-strict-arp`. */
  readonly strictARP: boolean;
  /** `--ipvs-exclude-cidrs`: virtual servers a sync leaves alone unless it plans them. */
  readonly excludeCIDRs: readonly string[];
  /** `--ipvs-tcp-timeout` in ms (0: as the kernel has it). */
  readonly tcpTimeoutMs: number;
  /** `--ipvs-tcpfin-timeout` in ms (0: as the kernel has it). */
  readonly tcpFinTimeoutMs: number;
  /** `--ipvs-udp-timeout` in ms (0: as the kernel has it). */
  readonly udpTimeoutMs: number;
}

/**
 * The options as the planner of one IP family takes them, as upstream gives each per-family proxier its
 * share of the flags: node IPs, cluster CIDRs (and the local detector's CIDRs), `--nodeport-addresses` and
 * `--ipvs-exclude-cidrs` of that family alone, and {@link PlanOptions.ipFamily} set.
 * `--nodeport-addresses` with CIDRs of the other family only means every address of this one, as upstream.
 *
 * @param options the options of both families (validated flags)
 * @param family the family to plan
 * @returns the options of `family`
 * @example planOptionsForFamily(options, 'IPv6').nodeIPs
 */
export function planOptionsForFamily(options: PlanOptions, family: IPFamily): PlanOptions {
  if (options.ipFamily === family) return options;
  const detector = options.localDetector;
  return {
    ...options,
    ipFamily: family,
    nodeIPs: ofFamily(options.nodeIPs, family),
    clusterCIDRs: ofFamily(options.clusterCIDRs, family),
    nodePortAddresses: ofFamily(options.nodePortAddresses, family),
    localDetector:
      detector !== undefined && (detector.mode === 'ClusterCIDR' || detector.mode === 'NodeCIDR')
        ? { mode: detector.mode, cidrs: ofFamily(detector.cidrs, family) }
        : detector,
    ipvsTuning:
      options.ipvsTuning === undefined
        ? undefined
        : { ...options.ipvsTuning, excludeCIDRs: ofFamily(options.ipvsTuning.excludeCIDRs, family) },
  };
}
