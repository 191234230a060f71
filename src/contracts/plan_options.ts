/**
 * The options that shape a plan, shared by every mode, the CLI and the benchmarks.
 *
 * @module
 */

/**
 * Every flag that shapes a plan. `rules`, `trace` and `run` build this from the same flags, so that what
 * `rules` prints is what `run` programs.
 */
export interface PlanOptions {
  /** `--hostname-override` (default: the host name). */
  readonly nodeName: string;
  /** `--node-ip` plus, for `run`, the node's addresses discovered at start (NodePort destinations). */
  readonly nodeIPs: readonly string[];
  /** `--cluster-cidr` (comma-separated in the flag); empty = unknown. */
  readonly clusterCIDRs: readonly string[];
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
