/**
 * The shape of `bench/results/<date>.json`: raw samples with their medians and spreads, per section, plus
 * the machine. The Markdown report and the plots are rendered from this alone, so a results file can be
 * re-rendered later (`bench/run.ts --render FILE`).
 *
 * @module
 */
import type { MachineInfo } from '../tools/machine_info.ts';
import type { Summary } from './stats.ts';

/** Where a measurement ran: on this machine, or inside the qemu guest (which has IPVS; software CPU). */
export type Place = 'host' | 'guest' | 'host-ipv6';

/** The kproxy modes that program the kernel's packet path (the first-packet and sync runs measure these). */
export type KernelMode = 'iptables' | 'ipvs' | 'nftables';

/**
 * A data-path target: the baseline, the userspace peer (HAProxy reached directly, and HAProxy behind kproxy's
 * userspace portal rules: haproxy_portals.ts), or a kproxy mode.
 */
export type DataPathTarget =
  | 'direct'
  | 'static-dnat'
  | 'haproxy'
  | 'haproxy-portals'
  | 'userspace'
  | KernelMode;

/** The data-path figures of one target. */
export interface DataPathMetrics {
  /** wrk with `Connection: close`: one request per connection. */
  readonly connectionsPerSecond: Summary;
  /** Request latency of those new-connection runs (connect + request), ms. */
  readonly newConnectionLatencyP50Ms: Summary;
  readonly newConnectionLatencyP99Ms: Summary;
  /** wrk over kept-alive connections. */
  readonly requestsPerSecond: Summary;
  readonly latencyP50Ms: Summary;
  readonly latencyP99Ms: Summary;
  /** iperf3, one TCP stream, what the receiver got. */
  readonly throughputGbps: Summary;
  /** wrk socket errors and non-2xx responses over every run (0 for a clean target). */
  readonly errors: number;
}

/** One target of the data-path section: measured, or not, with the reason. */
export type DataPathResult =
  | {
      readonly target: DataPathTarget;
      readonly place: Place;
      readonly status: 'measured';
      readonly metrics: DataPathMetrics;
    }
  | {
      readonly target: DataPathTarget;
      readonly place: Place;
      readonly status: 'not measured';
      readonly reason: string;
    };

/** How the data-path section was run. */
export interface DataPathSettings {
  readonly repetitions: number;
  readonly wrkSeconds: number;
  readonly iperfSeconds: number;
  readonly connections: number;
  /**
   * Services kproxy is given: the measured one among generated others, so that the rules a new connection
   * walks are those of a small cluster (absent in older results: the measured service alone).
   */
  readonly services?: number | undefined;
}

/** One service count of the scale runs (first packet and control plane share them). */
export interface ScalePoint {
  readonly services: number;
  readonly endpointsPerService: number;
  /**
   * Connect time to the last-added service's VIP, µs (first packet through the node's rules). Since
   * results carry {@link ScalePoint.interleaving}: the VIP batches of the interleaved window.
   */
  readonly connectUs: Summary;
  /**
   * Connect time straight to one of its endpoints before kproxy started (no rules at all), µs: minutes
   * away from the VIP figures on a shared machine, so only the baseline of older results (no
   * {@link ScalePoint.directConnectUs}); beside the same-window figure it shows what the rules cost every
   * connection through the node, drift included.
   */
  readonly baselineConnectUs: Summary;
  /**
   * New connections/s (wrk, `Connection: close`) to the last service (interleaved runs when
   * {@link ScalePoint.interleaving} is there), and to its endpoint before kproxy (absent: not run).
   */
  readonly connectionsPerSecond?: Summary | undefined;
  readonly baselineConnectionsPerSecond?: Summary | undefined;
  /**
   * Direct connects to the same endpoint after kproxy's first sync, in batches interleaved with the VIP
   * batches of {@link ScalePoint.connectUs} (the same time window, so the machine's drift hits both), µs;
   * absent in older results. Its packets pass the node's service rules without matching a service.
   */
  readonly directConnectUs?: Summary | undefined;
  /** The same for wrk: direct runs interleaved with the VIP runs of `connectionsPerSecond` (absent: not run, or older). */
  readonly directConnectionsPerSecond?: Summary | undefined;
  /** How the direct and VIP measurements were interleaved (absent in older results: not interleaved). */
  readonly interleaving?: Interleaving | undefined;
  /** The daemon's first sync (full: plan + apply), as its log reports it, ms. */
  readonly firstSyncMs: number;
  /** The daemon's sync after one endpoint of the last service changed, ms, and its kind. */
  readonly changeSyncMs: number;
  readonly changeSyncKind: 'full' | 'partial';
  /**
   * The same two syncs as the daemon's sync-duration histograms recorded them
   * (`kubeproxy_sync_full_proxy_rules_duration_seconds` for the first, the histogram of the change's kind,
   * usually `kubeproxy_sync_partial_proxy_rules_duration_seconds`, for the change), ms, unrounded; absent
   * when /metrics could not be read or did not isolate that one sync (older results too).
   */
  readonly metricFirstSyncMs?: number | undefined;
  readonly metricChangeSyncMs?: number | undefined;
  /** Lines fed to the kernel tool in the first sync (the daemon's count). */
  readonly restoreLines: number;
  /** The daemon's resident memory after the syncs, and its peak, MB (includes the manifest source). */
  readonly rssMb: number;
  readonly peakRssMb: number;
}

/** How a scale point interleaved its direct and VIP measurements (scale.ts). */
export interface Interleaving {
  /** Rounds of one direct and one VIP batch, their order alternating from round to round. */
  readonly rounds: number;
  /** Counted connects per batch. */
  readonly connectsPerBatch: number;
  /** wrk rounds (one direct and one VIP run each, alternating); 0 when wrk did not run. */
  readonly wrkRounds: number;
}

/** Plan + render alone (`renderRules`, pure CPU) for one service count, in a process of its own. */
export interface PlanPoint {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly planMs: Summary;
  /** Size of the rendered rules (the restore input for iptables), bytes and lines. */
  readonly bytes: number;
  readonly lines: number;
  /** Loading the manifests into a state (manifest source + tracker), ms. */
  readonly loadMs: number;
  /** Heap holding the state, and the growth while one rendered plan is held, MB. */
  readonly stateHeapMb: number;
  readonly planHeapMb: number;
}

/** One mode's plan series (always measured on the host: no kernel involved). */
export interface PlanSeries {
  readonly mode: 'userspace' | KernelMode;
  readonly points: readonly PlanPoint[];
  readonly failures: readonly { readonly services: number; readonly reason: string }[];
}

/** One mode's scale series. */
export interface ScaleSeries {
  readonly mode: KernelMode;
  readonly place: Place;
  /** The iptables backend used (for ipvs: its few iptables rules; unused by nftables). */
  readonly iptablesBackend: 'legacy' | 'nft';
  readonly points: readonly ScalePoint[];
  /** Sizes that could not be measured, with the reason. */
  readonly failures: readonly { readonly services: number; readonly reason: string }[];
}

/** The sections of a run, as `bench/run.ts --sections` names them. */
export type Section = 'data' | 'data6' | 'scale' | 'plan' | 'iptables-scale' | 'guest';

/** Something that was not measured, and why. */
export interface NotMeasured {
  readonly what: string;
  readonly reason: string;
  /** The section it belongs to (none: about the whole run). */
  readonly section?: Section | undefined;
}

/** What the guest run sends back. */
export interface GuestResults {
  readonly dataPath: readonly DataPathResult[];
  readonly scale: readonly ScaleSeries[];
  readonly kernel: string;
  readonly cpus: number;
  readonly durationMs: number;
}

/** The whole results file. */
export interface BenchResults {
  readonly version: 1;
  /** ISO time the run started. */
  readonly date: string;
  readonly quick: boolean;
  readonly durationMs: number;
  readonly machine: MachineInfo;
  /** `dist` (compiled) or `source (tsx)`: how kproxy ran. */
  readonly kproxyBuild: string;
  readonly git: string;
  /** The iptables backend kproxy was told to use (`--iptables-backend`). */
  readonly iptablesBackend: 'legacy' | 'nft';
  readonly dataPathSettings: DataPathSettings;
  readonly dataPath: readonly DataPathResult[];
  readonly scale: readonly ScaleSeries[];
  readonly plan: readonly PlanSeries[];
  /** The guest's kernel and CPUs when the guest ran. */
  readonly guest?:
    | { readonly kernel: string; readonly cpus: number; readonly durationMs: number }
    | undefined;
  /**
   * The control-plane probe of the iptables mode (bench/control-plane-probe.ts --mode iptables; before, the
   * same rows from bench/iptables-scale.ts): one row per size, as it printed it.
   */
  readonly iptablesScale?: readonly Readonly<Record<string, unknown>>[] | undefined;
  readonly notMeasured: readonly NotMeasured[];
  /** Sections run later and merged into this run (`bench/run.ts --merge`), when and why. */
  readonly merged?: readonly MergedRun[] | undefined;
}

/** A later run merged into a results file (`bench/run.ts --merge`). */
export interface MergedRun {
  readonly date: string;
  readonly sections: readonly Section[];
  readonly load: number;
  /** `--modes` of that run: only these modes' scale (and plan) rows were replaced (absent: all). */
  readonly modes?: readonly string[] | undefined;
  /** `--sizes` of that run: only these sizes' scale rows were replaced (absent: all). */
  readonly sizes?: readonly number[] | undefined;
}
