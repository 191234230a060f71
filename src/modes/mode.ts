/**
 * The contract every proxy mode fulfils: a pure planning half (rules, trace) and an applying half
 * (the Proxier), wired by the CLI through {@link ModeDefinition}. No mode logic lives in the CLI.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { PlanOptions } from '../contracts/plan_options.ts';
import type { IptablesBackend, ProxyMode } from '../contracts/proxy_mode.ts';
import type { SyncOptions, SyncReport } from '../contracts/sync.ts';
import type { TracePacket, TraceResult } from '../contracts/trace.ts';
import type { Exec } from '../kernel/exec.ts';
import type { ProxyMetrics } from '../metrics/proxy_metrics.ts';
import type { IPFamily, ProxyState, StateChange } from '../model/types.ts';

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
  /**
   * Whether the kernel still holds what the last sync programmed, cheaply (a canary, the jumps into the
   * mode's chains, the dispatch chain's rules): the reason it does not, or undefined. The daemon calls it
   * between syncs (runner/integrity_watch.ts) and repairs at once; never called during a sync.
   */
  checkIntact?(): Promise<string | undefined>;
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
  /**
   * The IP families this mode plans (default IPv4 alone): the daemon runs one Proxier per family it lists
   * and the host can serve (modes/dual_stack.ts), with `options.ipFamily` set.
   */
  readonly ipFamilies?: readonly IPFamily[] | undefined;
  /** The plan in the kernel tool's own restore format (what `kproxy rules` prints). */
  renderRules(state: ProxyState, options: PlanOptions): string;
  /** Walks one packet through the plan. */
  trace(state: ProxyState, options: PlanOptions, packet: TracePacket): TraceResult;
  /** Fails with a clear message if this host cannot run the mode (e.g. no IPVS). */
  checkHost(deps: ProxierDeps): Promise<void>;
  createProxier(deps: ProxierDeps): Proxier;
  /** Removes everything this mode may ever have programmed; must succeed when nothing is there. */
  cleanup(deps: ProxierDeps): Promise<void>;
  /**
   * Removes what this mode leaves behind on purpose when it stops and that would get in another mode's way
   * (the userspace mode's portal rules), cheaply when there is none; for kproxy starting in another mode.
   * Never fails (problems are logged). Undefined when the mode leaves nothing in others' way.
   */
  removeLeftovers?(deps: ProxierDeps, families: readonly IPFamily[]): Promise<unknown>;
}
