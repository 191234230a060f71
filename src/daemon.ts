/**
 * The running proxy: source → tracker → runner → proxier. Handlers stay trivial (record the event, ask
 * the runner for a sync); the sync takes a snapshot and hands it to the mode's Proxier. Nothing here
 * knows what a mode does.
 *
 * This node's Node object (when the source sees it) is applied here: its zone goes to the tracker (zone
 * hints), its addresses to the plan options' node IPs (NodePort destinations, unless `--node-ip` fixed
 * them), and the whole event to `onNode` (node eligibility for `/healthz`). Upstream kube-proxy exits
 * when its node IPs change and lets the DaemonSet restart it; kproxy re-plans fully instead.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { PlanOptions } from './contracts/plan_options.ts';
import type { IptablesBackend } from './contracts/proxy_mode.ts';
import type { SyncObserver, SyncReport } from './contracts/sync.ts';
import type { Exec } from './kernel/exec.ts';
import type { ProxyMetrics } from './metrics/proxy_metrics.ts';
import { formatProblem } from './model/problem.ts';
import { EMPTY_CHANGE, mergeChanges } from './model/state_change.ts';
import type { IPFamily, StateChange } from './model/types.ts';
import type { NodeSpec } from './model/validate_node.ts';
import { DualStackProxier } from './modes/dual_stack.ts';
import type { ModeDefinition, Proxier } from './modes/mode.ts';
import { BoundedFrequencyRunner } from './runner/bounded_frequency_runner.ts';
import { type Clock, systemClock } from './runner/clock.ts';
import { IntegrityWatch } from './runner/integrity_watch.ts';
import type { NodeEvent, ProxySource, SourceEvent } from './sources/source.ts';
import { ProxyStateTracker } from './tracker/proxy_state_tracker.ts';

/** Options of {@link Daemon}. */
export interface DaemonOptions {
  readonly mode: ModeDefinition;
  readonly source: ProxySource;
  readonly plan: PlanOptions;
  readonly exec: Exec;
  readonly logger: Logger;
  readonly iptablesBackend: IptablesBackend;
  /** `--iptables-min-sync-period` (or the ipvs one). */
  readonly minSyncPeriodMs: number;
  /** `--iptables-sync-period`: the periodic full resync. */
  readonly syncPeriodMs: number;
  readonly clock?: Clock | undefined;
  readonly observers?: readonly SyncObserver[] | undefined;
  /** Handed to the mode's Proxier (relay counters, iptables rule counts). */
  readonly metrics?: ProxyMetrics | undefined;
  /**
   * How the Node's addresses become the plan's node IPs (e.g. the host's addresses plus the Node's);
   * undefined when `--node-ip` fixed them, so that Node address changes are only recorded.
   */
  readonly nodeIPsFor?: ((nodeAddresses: readonly string[]) => readonly string[]) | undefined;
  /** Hears every node event after the daemon applied it (node eligibility for `/healthz`). */
  readonly onNode?: ((event: NodeEvent) => void) | undefined;
  /**
   * The IP families to serve, one Proxier each (modes/dual_stack.ts); default IPv4 alone. `kproxy run`
   * passes what the host can serve (`availableFamilies`).
   */
  readonly families?: readonly IPFamily[] | undefined;
  /**
   * `--rules-check-period`: how often the mode's integrity check runs between syncs (runner/
   * integrity_watch.ts), so that rules removed behind kproxy's back are repaired at once rather than at
   * the next periodic resync; 0 or undefined: never.
   */
  readonly rulesCheckPeriodMs?: number | undefined;
}

/**
 * A running kproxy. {@link start} returns once the source runs; the first sync happens when the source
 * has delivered its initial list.
 *
 * @example
 * const daemon = new Daemon(options);
 * await daemon.start();
 * process.once('SIGTERM', () => void daemon.stop());
 */
export class Daemon {
  readonly #options: DaemonOptions;
  readonly #clock: Clock;
  readonly #tracker: ProxyStateTracker;
  readonly #runner: BoundedFrequencyRunner;
  readonly #proxier: DualStackProxier;
  readonly #log: Logger;
  /** The plan options now; the Proxier reads them through a live view (see {@link setPlanOptions}). */
  #plan: PlanOptions;
  #node: NodeSpec | undefined;
  #carried: StateChange = EMPTY_CHANGE;
  #needFull = true;
  /** Why the next sync repairs the kernel state (the integrity check found damage), or undefined. */
  #repair: string | undefined;
  #syncing = false;
  readonly #watch: IntegrityWatch | undefined;
  #lastFullAt = Number.NEGATIVE_INFINITY;
  #syncs = 0;
  #stopped = false;
  #queuedReported = false;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
    this.#plan = options.plan;
    this.#tracker = new ProxyStateTracker({ nodeName: options.plan.nodeName, startedAt: this.#clock.now() });
    this.#proxier = new DualStackProxier(
      options.mode,
      {
        // Every Proxier reads its options at each sync (planIptables/planNftables/planIpvs/planUserspace
        // take them per call), and the Proxier contract has no setter: a live view lets setPlanOptions
        // reach it without rebuilding the Proxier (which would drop the relay, IPVS graceful termination
        // and the applied-plan diff).
        options: liveView(() => this.#plan),
        exec: options.exec,
        logger: options.logger,
        iptablesBackend: options.iptablesBackend,
        metrics: options.metrics,
      },
      options.families ?? ['IPv4'],
    );
    const checkPeriod = options.rulesCheckPeriodMs ?? 0;
    this.#watch =
      checkPeriod > 0
        ? new IntegrityWatch(
            () => this.#proxier.checkIntact(),
            (reason) => this.#damaged(reason),
            {
              intervalMs: checkPeriod,
              busy: () => this.#syncing,
              clock: this.#clock,
              onError: (error) => this.#log.debug({ err: error }, 'Integrity check failed'),
            },
          )
        : undefined;
    this.#runner = new BoundedFrequencyRunner(() => this.#sync(), {
      minIntervalMs: options.minSyncPeriodMs,
      maxIntervalMs: options.syncPeriodMs,
      retryIntervalMs: Math.max(options.minSyncPeriodMs, 1000),
      clock: this.#clock,
      onError: (error) => this.#log.error({ err: error }, 'Sync failed: will retry'),
    });
  }

  /** The IP families served, one Proxier each. */
  get families(): readonly IPFamily[] {
    return this.#proxier.families;
  }

  /** The Proxier of one family (tests and lab drivers). */
  proxierOf(family: IPFamily): Proxier | undefined {
    return this.#proxier.proxierOf(family);
  }

  /** Number of successful syncs so far. */
  get syncs(): number {
    return this.#syncs;
  }

  /** The tracker (read-only use: health checks and tests). */
  get tracker(): ProxyStateTracker {
    return this.#tracker;
  }

  /** The plan options in force (node IPs follow the Node's addresses unless `--node-ip` was given). */
  get planOptions(): PlanOptions {
    return this.#plan;
  }

  /** This node's Node object as last delivered by the source (undefined: not seen). */
  get node(): NodeSpec | undefined {
    return this.#node;
  }

  /** The node's pod CIDRs (`spec.podCIDRs`), kept for `--detect-local-mode NodeCIDR`; empty when unknown. */
  get podCIDRs(): readonly string[] {
    return this.#node?.podCIDRs ?? [];
  }

  /** Starts the source; syncs follow as events arrive. */
  async start(): Promise<void> {
    this.#log.info({ mode: this.#options.mode.name, node: this.#options.plan.nodeName }, 'Starting kproxy');
    await this.#options.source.start((event) => this.#onEvent(event), {
      onNode: (event) => this.#onNode(event),
    });
  }

  /**
   * Changes plan options at run time (the node IPs when the Node's addresses change) and asks for a full
   * sync, since every service port may plan differently. Changes that change nothing are ignored.
   *
   * @param change the options to replace
   * @returns true when something changed and a full sync was asked for
   * @example daemon.setPlanOptions({ nodeIPs: ['198.18.0.2'] })
   */
  setPlanOptions(change: Partial<PlanOptions>): boolean {
    const next = { ...this.#plan, ...change };
    if (JSON.stringify(next) === JSON.stringify(this.#plan)) return false;
    this.#plan = next;
    this.#needFull = true;
    this.#queued();
    return true;
  }

  /** Stops the source, waits for a sync in progress and stops the proxier (kernel rules stay). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#options.source.stop();
    this.#watch?.stop();
    await this.#runner.stop();
    await this.#proxier.stop();
    this.#log.info('kproxy stopped');
  }

  #onEvent(event: SourceEvent): void {
    if (this.#stopped) return;
    if (event.type === 'problem') {
      this.#log.warn({ problem: event.problem }, formatProblem(event.problem));
      return;
    }
    if (this.#tracker.handle(event)) this.#queued();
  }

  #onNode(event: NodeEvent): void {
    if (this.#stopped) return;
    if (event.type === 'nodeDeleted') {
      // As the API source: the last zone and addresses stay; upstream would exit here.
      this.#log.warn({ node: event.name }, 'The Node object was deleted');
    } else {
      const { node } = event;
      this.#node = node;
      if (this.#tracker.setNodeTopology({ zone: node.zone }, event.at)) {
        this.#log.info({ node: node.name, zone: node.zone ?? null }, 'Node zone');
        this.#queued();
      }
      const nodeIPsFor = this.#options.nodeIPsFor;
      if (nodeIPsFor !== undefined && node.addresses.length > 0) {
        const nodeIPs = [...nodeIPsFor(node.addresses)];
        if (this.setPlanOptions({ nodeIPs }))
          this.#log.info({ node: node.name, nodeIPs }, 'Node IPs changed: re-planning every service');
      }
    }
    try {
      this.#options.onNode?.(event);
    } catch (error) {
      this.#log.error({ err: error }, 'Node event handler threw');
    }
  }

  /** Something needs a sync: tell the observers and ask the runner (once the source is synced). */
  #queued(): void {
    if (!this.#tracker.synced) return;
    if (!this.#queuedReported) {
      this.#queuedReported = true;
      for (const o of this.#options.observers ?? []) o.changeQueued?.(this.#clock.now());
    }
    const pending = this.#tracker.pendingEvents;
    for (const o of this.#options.observers ?? []) o.pendingChanged?.(pending);
    this.#runner.run();
  }

  /** The integrity check found the kernel state damaged: repair now, whatever the min sync period. */
  #damaged(reason: string): void {
    if (this.#stopped) return;
    this.#log.warn({ reason }, 'Proxy rules damaged behind our back: repairing now');
    for (const o of this.#options.observers ?? []) o.damageFound?.(reason);
    this.#repair = reason;
    this.#needFull = true;
    this.#runner.runNow();
  }

  async #sync(): Promise<void> {
    if (!this.#tracker.synced || this.#stopped) return;
    this.#syncing = true;
    try {
      await this.#syncOnce();
    } finally {
      this.#syncing = false;
    }
  }

  async #syncOnce(): Promise<void> {
    const started = this.#clock.now();
    const t0 = performance.now();
    const { state, change } = this.#tracker.snapshot();
    this.#queuedReported = false;
    for (const o of this.#options.observers ?? []) o.syncStarted?.(started);
    const merged = mergeChanges(this.#carried, change, (k) => state.servicePorts.has(k));
    const full = this.#needFull || started - this.#lastFullAt >= this.#options.syncPeriodMs;
    try {
      const repair = this.#repair;
      const report = await this.#proxier.sync(state, merged, { full, repair });
      if (repair !== undefined) {
        this.#repair = undefined;
        this.#log.info({ reason: repair }, 'Proxy rules repaired');
      }
      // A failed sync keeps the check waiting: the runner retries it, damage or not.
      this.#watch?.syncFinished();
      this.#watch?.start();
      const seconds = (performance.now() - t0) / 1000;
      this.#carried = EMPTY_CHANGE;
      this.#needFull = false;
      if (full || report.kind === 'full') this.#lastFullAt = started;
      this.#syncs++;
      this.#log.info(
        {
          kind: report.kind,
          durationMs: Math.round(seconds * 1000),
          version: state.version,
          servicePorts: state.servicePorts.size,
          changed: merged.changed.size,
          written: report.servicePortsWritten,
          restoreLines: report.restoreLines,
          ...familyLog(report.families),
        },
        'Synced proxy rules',
      );
      for (const o of this.#options.observers ?? []) {
        o.syncSucceeded?.({ report, seconds, change: merged, state, at: this.#clock.now() });
      }
    } catch (error) {
      this.#carried = merged;
      this.#needFull = true;
      const seconds = (performance.now() - t0) / 1000;
      const families = this.#proxier.lastSyncFamilies;
      for (const o of this.#options.observers ?? [])
        o.syncFailed?.({ error, seconds, at: this.#clock.now(), families });
      throw error;
    }
  }
}

/**
 * Each family's part of a sync for the sync's log line, when there are two: its kind, time and service
 * ports (one family alone is the line itself).
 */
function familyLog(families: SyncReport['families']): {
  families?: Record<string, { kind: string; durationMs: number; servicePorts?: number }>;
} {
  if (families === undefined || families.size < 2) return {};
  const out: Record<string, { kind: string; durationMs: number; servicePorts?: number }> = {};
  for (const [family, result] of families) {
    const durationMs = Math.round(result.seconds * 1000);
    out[family] = result.ok
      ? { kind: result.report.kind, durationMs, servicePorts: result.state.servicePorts.size }
      : { kind: 'failed', durationMs };
  }
  return { families: out };
}

/**
 * A read-only object whose properties are, at every read, those of `current()`: the options a Proxier
 * holds follow {@link Daemon.setPlanOptions}.
 */
function liveView<T extends object>(current: () => T): T {
  return new Proxy(Object.create(null) as T, {
    get: (_target, key) => Reflect.get(current(), key),
    has: (_target, key) => Reflect.has(current(), key),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(current(), key);
      // Reported configurable: a Proxy may not claim a non-configurable property its target lacks.
      return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
    },
    set: () => false,
  });
}
