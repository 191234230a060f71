/**
 * The running proxy: source → tracker → runner → proxier. Handlers stay trivial (record the event, ask
 * the runner for a sync); the sync takes a snapshot and hands it to the mode's Proxier. Nothing here
 * knows what a mode does.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { PlanOptions } from './contracts/plan_options.ts';
import type { IptablesBackend } from './contracts/proxy_mode.ts';
import type { SyncObserver } from './contracts/sync.ts';
import type { Exec } from './kernel/exec.ts';
import type { ProxyMetrics } from './metrics/proxy_metrics.ts';
import { formatProblem } from './model/problem.ts';
import { EMPTY_CHANGE, mergeChanges } from './model/state_change.ts';
import type { StateChange } from './model/types.ts';
import type { ModeDefinition, Proxier } from './modes/mode.ts';
import { BoundedFrequencyRunner } from './runner/bounded_frequency_runner.ts';
import { type Clock, systemClock } from './runner/clock.ts';
import type { ProxySource, SourceEvent } from './sources/source.ts';
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
  readonly #proxier: Proxier;
  readonly #log: Logger;
  #carried: StateChange = EMPTY_CHANGE;
  #needFull = true;
  #lastFullAt = Number.NEGATIVE_INFINITY;
  #syncs = 0;
  #stopped = false;
  #queuedReported = false;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
    this.#tracker = new ProxyStateTracker({ nodeName: options.plan.nodeName });
    this.#proxier = options.mode.createProxier({
      options: options.plan,
      exec: options.exec,
      logger: options.logger,
      iptablesBackend: options.iptablesBackend,
      metrics: options.metrics,
    });
    this.#runner = new BoundedFrequencyRunner(() => this.#sync(), {
      minIntervalMs: options.minSyncPeriodMs,
      maxIntervalMs: options.syncPeriodMs,
      retryIntervalMs: Math.max(options.minSyncPeriodMs, 1000),
      clock: this.#clock,
      onError: (error) => this.#log.error({ err: error }, 'Sync failed: will retry'),
    });
  }

  /** Number of successful syncs so far. */
  get syncs(): number {
    return this.#syncs;
  }

  /** The tracker (read-only use: health checks and tests). */
  get tracker(): ProxyStateTracker {
    return this.#tracker;
  }

  /** Starts the source; syncs follow as events arrive. */
  async start(): Promise<void> {
    this.#log.info({ mode: this.#options.mode.name, node: this.#options.plan.nodeName }, 'Starting kproxy');
    await this.#options.source.start((event) => this.#onEvent(event));
  }

  /** Stops the source, waits for a sync in progress and stops the proxier (kernel rules stay). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#options.source.stop();
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
    if (this.#tracker.handle(event) && this.#tracker.synced) {
      if (!this.#queuedReported) {
        this.#queuedReported = true;
        for (const o of this.#options.observers ?? []) o.changeQueued?.(this.#clock.now());
      }
      const pending = this.#tracker.pendingEvents;
      for (const o of this.#options.observers ?? []) o.pendingChanged?.(pending);
      this.#runner.run();
    }
  }

  async #sync(): Promise<void> {
    if (!this.#tracker.synced || this.#stopped) return;
    const started = this.#clock.now();
    const t0 = performance.now();
    const { state, change } = this.#tracker.snapshot();
    this.#queuedReported = false;
    for (const o of this.#options.observers ?? []) o.syncStarted?.(started);
    const merged = mergeChanges(this.#carried, change, (k) => state.servicePorts.has(k));
    const full = this.#needFull || started - this.#lastFullAt >= this.#options.syncPeriodMs;
    try {
      const report = await this.#proxier.sync(state, merged, { full });
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
      for (const o of this.#options.observers ?? [])
        o.syncFailed?.({ error, seconds, at: this.#clock.now() });
      throw error;
    }
  }
}
