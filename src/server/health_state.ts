/**
 * The proxy's own health, as kube-proxy defines it (`pkg/proxy/healthcheck/proxy_health.go`): the proxy is
 * unhealthy when a change has been queued for longer than the health timeout (2 × `--sync-period`) without
 * a successful sync since. Pure state with an injectable clock; the HTTP side lives in `healthz.ts`.
 *
 * Kept from upstream: the oldest pending change is what counts (a stream of new changes does not hide a
 * hung sync); `lastUpdated` is the last successful sync; a proxy with nothing queued is healthy, also
 * while it starts. Changed: upstream forgets changes that arrive *during* a sync when that sync succeeds;
 * here, when the daemon calls {@link HealthState.syncStarted}, those stay pending. Upstream (per IP family)
 * also reports healthy while a family has never synced at all; kproxy has one proxier and applies the
 * timeout from the first queued change, so a proxy whose first sync never succeeds turns unhealthy.
 *
 * @module
 */

/** Milliseconds since the epoch (`Date.now` unless a test injects a fake clock). */
export type Clock = () => number;

/** Options of {@link HealthState}. */
export interface HealthStateOptions {
  /** How long a queued change may wait for a successful sync; kube-proxy uses 2 × `--sync-period`. */
  readonly healthTimeoutMs: number;
  /** Default `Date.now`. */
  readonly now?: Clock | undefined;
}

/** A snapshot of the proxy's health (what `/livez` reports; `/healthz` adds node eligibility). */
export interface ProxyHealth {
  readonly healthy: boolean;
  /** Last successful sync (epoch ms); undefined before the first. */
  readonly lastUpdated: number | undefined;
  readonly currentTime: number;
  /** When the oldest change still waiting for a successful sync was queued (epoch ms), if any. */
  readonly oldestPendingQueued: number | undefined;
}

/**
 * Tracks queued changes and successful syncs, and answers "is the proxy keeping up?".
 *
 * @example
 * const health = new HealthState({ healthTimeoutMs: 2 * syncPeriodMs });
 * health.queuedUpdate();            // a source event needs a sync
 * health.syncStarted();             // the runner starts a sync
 * await proxier.sync(state, change);
 * health.updated();                 // success: healthy again
 */
export class HealthState {
  readonly healthTimeoutMs: number;
  readonly #now: Clock;
  #lastUpdated: number | undefined;
  #oldestPendingQueued: number | undefined;
  /** Oldest change queued since the running sync took its snapshot; undefined when none or no sync runs. */
  #queuedDuringSync: number | undefined;
  #syncRunning = false;
  #nodeEligible = true;

  /**
   * @param options the health timeout and the clock
   */
  constructor(options: HealthStateOptions) {
    this.healthTimeoutMs = options.healthTimeoutMs;
    this.#now = options.now ?? Date.now;
  }

  /** Records that a change needs a sync; only the oldest pending change's time is kept. */
  queuedUpdate(): void {
    const now = this.#now();
    this.#oldestPendingQueued ??= now;
    if (this.#syncRunning) this.#queuedDuringSync ??= now;
  }

  /**
   * Records that a sync took its snapshot of the state: changes queued from now on are not covered by it.
   * Optional; without it, {@link updated} clears every pending change (upstream's behaviour).
   */
  syncStarted(): void {
    this.#syncRunning = true;
    this.#queuedDuringSync = undefined;
  }

  /** Records a successful sync: the changes it covered are no longer pending. */
  updated(): void {
    this.#lastUpdated = this.#now();
    this.#oldestPendingQueued = this.#syncRunning ? this.#queuedDuringSync : undefined;
    this.#syncRunning = false;
    this.#queuedDuringSync = undefined;
  }

  /** Records a failed sync: everything pending stays pending (the runner retries). */
  syncFailed(): void {
    this.#syncRunning = false;
    this.#queuedDuringSync = undefined;
  }

  /**
   * Sets whether this node should receive load-balancer traffic (see `isNodeEligible`); reported by
   * `/healthz` only. A proxy without a Node object (manifest directory source) stays eligible.
   *
   * @param eligible false when the node is being deleted or drained by the cluster autoscaler
   */
  setNodeEligible(eligible: boolean): void {
    this.#nodeEligible = eligible;
  }

  /** Whether the node is eligible (true until told otherwise). */
  get nodeEligible(): boolean {
    return this.#nodeEligible;
  }

  /**
   * The proxy's health now, ignoring node eligibility (`/livez`, and the per-service health checks).
   *
   * @returns healthy, last successful sync, current time and oldest pending change
   */
  health(): ProxyHealth {
    const currentTime = this.#now();
    const pending = this.#oldestPendingQueued;
    // As upstream: a change that has waited exactly the timeout is already late.
    const healthy = pending === undefined || currentTime - pending < this.healthTimeoutMs;
    return { healthy, lastUpdated: this.#lastUpdated, currentTime, oldestPendingQueued: pending };
  }
}
