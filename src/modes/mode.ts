/**
 * The contract every proxy mode fulfils: a pure planning half (rules, trace) and an applying half
 * (the Proxier), wired by the CLI through {@link ModeDefinition}. No mode logic lives in the CLI.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { Exec } from '../kernel/exec.ts';
import type { ProxyMetrics } from '../metrics/proxy_metrics.ts';
import type { Protocol, ProxyState, StateChange } from '../model/types.ts';

/** The proxy modes, as `--proxy-mode` spells them. */
export type ProxyMode = 'userspace' | 'iptables' | 'ipvs';

/** The iptables backend: follow the host's choice, or force one. */
export type IptablesBackend = 'auto' | 'legacy' | 'nft';

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
}

/** A packet for `kproxy trace`. */
export interface TracePacket {
  readonly source: string;
  readonly destination: string;
  readonly port: number;
  readonly protocol: Protocol;
}

/** Where a traced packet ends. */
export type TraceVerdict = 'DNAT' | 'REJECT' | 'DROP' | 'ACCEPT' | 'NONE';

/** The result of tracing one packet through a plan (`kproxy trace --json` prints exactly this). */
export interface TraceResult {
  readonly verdict: TraceVerdict;
  readonly masquerade: boolean;
  /** Every backend the packet may reach, with its probability (sums to 1 when non-empty). */
  readonly backends: readonly { readonly address: string; readonly probability: number }[];
  /** Human-readable steps: chains and rules walked, or the virtual server hit. */
  readonly path: readonly string[];
}

/** What a sync did, for logs and metrics. */
export interface SyncReport {
  readonly kind: 'full' | 'partial';
  /** Service ports whose rules were (re)written. */
  readonly servicePortsWritten: number;
  /** Bytes/lines sent to the kernel tool(s), when meaningful. */
  readonly restoreBytes: number;
  readonly restoreLines: number;
}

/** How the daemon asks for a sync. */
export interface SyncOptions {
  /**
   * True for the periodic resync (`--iptables-sync-period`) and after a failed sync: rewrite everything
   * the mode owns instead of only what `change` names. A Proxier may also decide on its own to sync fully
   * (first sync, canary chain gone); it says so in {@link SyncReport.kind}.
   */
  readonly full: boolean;
}

/** Applies plans to the kernel; holds the only mutable kernel state of a mode. */
export interface Proxier {
  /** Brings the kernel (and, for userspace, the relay) in line with `state`. Throws on failure. */
  sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<SyncReport>;
  /**
   * Stops serving. The kernel modes leave their rules in place (as kube-proxy); the userspace mode stops
   * accepting, drains open connections (bounded) and then removes its portal rules, which would only
   * capture VIP traffic that nobody serves any more.
   */
  stop(): Promise<void>;
}

/** What a Proxier gets from the daemon. */
export interface ProxierDeps {
  readonly options: PlanOptions;
  readonly exec: Exec;
  readonly logger: Logger;
  /** `--iptables-backend`. */
  readonly iptablesBackend: IptablesBackend;
  /** Metrics, when the daemon serves them (the userspace relay uses `metrics.relay`). */
  readonly metrics?: ProxyMetrics | undefined;
}

/** Everything the CLI needs from a mode. */
export interface ModeDefinition {
  readonly name: ProxyMode;
  /** The plan in the kernel tool's own restore format (what `kproxy rules` prints). */
  renderRules(state: ProxyState, options: PlanOptions): string;
  /** Walks one packet through the plan. */
  trace(state: ProxyState, options: PlanOptions, packet: TracePacket): TraceResult;
  /** Fails with a clear message if this host cannot run the mode (e.g. no IPVS). */
  checkHost(deps: ProxierDeps): Promise<void>;
  createProxier(deps: ProxierDeps): Proxier;
  /** Removes everything this mode may ever have programmed; must succeed when nothing is there. */
  cleanup(deps: ProxierDeps): Promise<void>;
}
