/**
 * Notices, between syncs, that the kernel no longer holds what the proxy programmed (someone flushed its
 * chains, deleted its table, restored an old ruleset), so that the daemon repairs it at once rather than
 * at the next periodic resync. The check itself belongs to the mode (`Proxier.checkIntact`: a canary, the
 * jumps from the built-in chains, a chain's first rule); this only decides when it runs:
 *
 * - every `intervalMs` (kproxy's default 500 ms: a repair within a second), never during a sync (which
 *   rewrites the rules and would look damaged half-way) and never two checks at once;
 * - no more often than 20 times the time a check took (up to 5 s apart), so that on a big node (where
 *   reading a legacy iptables table takes tens of milliseconds) the checks cost at most about 5 % of a core;
 * - after reporting damage, not again until the daemon says a sync finished (the repair).
 *
 * @module
 */
import { type Clock, systemClock, type Timer } from './clock.ts';

/** The longest the cost-based spacing of checks may grow to (ms). */
const MAX_BACKOFF_MS = 5000;

/** Options of {@link IntegrityWatch}. */
export interface IntegrityWatchOptions {
  /** The shortest time between checks (ms). */
  readonly intervalMs: number;
  /** True while a sync runs. */
  readonly busy: () => boolean;
  readonly clock?: Clock | undefined;
  /** A check that threw (the next check runs as scheduled). */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** Runs a mode's integrity check on a timer and reports damage once per repair. */
export class IntegrityWatch {
  readonly #check: () => Promise<string | undefined>;
  readonly #onDamage: (reason: string) => void;
  readonly #options: IntegrityWatchOptions;
  readonly #clock: Clock;
  #timer: Timer | undefined;
  #stopped = true;
  #waitingForRepair = false;
  #checks = 0;

  /**
   * @param check the mode's check: why the kernel state is damaged, or undefined when intact
   * @param onDamage called with the reason (once, until {@link syncFinished})
   * @param options interval, busy test, clock
   */
  constructor(
    check: () => Promise<string | undefined>,
    onDamage: (reason: string) => void,
    options: IntegrityWatchOptions,
  ) {
    this.#check = check;
    this.#onDamage = onDamage;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** How many checks have run. */
  get checks(): number {
    return this.#checks;
  }

  /** Starts checking (call after the first successful sync: before it there is nothing to check). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(this.#options.intervalMs);
  }

  /** A sync finished: damage may be reported again. */
  syncFinished(): void {
    this.#waitingForRepair = false;
  }

  /** Stops checking. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#waitingForRepair || this.#options.busy()) {
      this.#schedule(this.#options.intervalMs);
      return;
    }
    const started = performance.now();
    let reason: string | undefined;
    try {
      this.#checks++;
      reason = await this.#check();
    } catch (error) {
      this.#options.onError?.(error);
    }
    const took = performance.now() - started;
    // A sync that started meanwhile rewrites the rules: what the check saw may be that sync's work.
    if (reason !== undefined && !this.#stopped && !this.#options.busy()) {
      this.#waitingForRepair = true;
      this.#onDamage(reason);
    }
    // At most 5 s between checks: `took` is wall time, and a process stalled during a check (stopped, or
    // starved of CPU) must not push the next check out for minutes.
    this.#schedule(Math.max(this.#options.intervalMs, Math.min(MAX_BACKOFF_MS, Math.ceil(20 * took))));
  }
}
