/**
 * Decides *when* to sync, as upstream's BoundedFrequencyRunner: at most once per `minIntervalMs`, at
 * least once per `maxIntervalMs` (after the first run), immediately on the first request after a quiet
 * spell, never two runs at once (requests during a run are merged into one run after it), and a failed
 * run retried after `retryIntervalMs`.
 *
 * @module
 */
import { type Clock, systemClock, type Timer } from './clock.ts';

/** Options of {@link BoundedFrequencyRunner}. */
export interface BoundedFrequencyRunnerOptions {
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retryIntervalMs: number;
  readonly clock?: Clock | undefined;
  /** Called with the error of a failed run (the run is retried). */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/**
 * Runs an async function within frequency bounds.
 *
 * @example
 * const runner = new BoundedFrequencyRunner(() => sync(), { minIntervalMs: 1000, maxIntervalMs: 30000,
 *   retryIntervalMs: 1000 });
 * runner.run(); // on every change
 */
export class BoundedFrequencyRunner {
  readonly #fn: () => Promise<void>;
  readonly #min: number;
  readonly #max: number;
  readonly #retry: number;
  readonly #clock: Clock;
  readonly #onError: ((error: unknown) => void) | undefined;
  #lastStart: number | undefined;
  /** Earliest time a requested run may start; undefined when nothing is requested. */
  #due: number | undefined;
  #timer: Timer | undefined;
  #timerAt: number | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #runs = 0;

  constructor(fn: () => Promise<void>, options: BoundedFrequencyRunnerOptions) {
    this.#fn = fn;
    this.#min = options.minIntervalMs;
    this.#max = options.maxIntervalMs;
    this.#retry = options.retryIntervalMs;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError;
  }

  /** How many runs have started. */
  get runs(): number {
    return this.#runs;
  }

  /** Asks for a run as soon as the bounds allow. */
  run(): void {
    this.#request(this.#clock.now());
  }

  /**
   * Asks for a run now, whatever the minimum interval (repairing rules someone removed cannot wait for
   * it); still never two runs at once: during a run, the next one starts right after it.
   */
  runNow(): void {
    this.#due = this.#clock.now();
    this.#arm();
  }

  /** Stops scheduling; resolves when a run in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#running;
  }

  #request(at: number): void {
    const due = Math.max(at, this.#lastStart === undefined ? at : this.#lastStart + this.#min);
    if (this.#due === undefined || due < this.#due) this.#due = due;
    this.#arm();
  }

  #arm(): void {
    if (this.#stopped || this.#running !== undefined) return;
    const periodic = this.#lastStart === undefined ? Number.POSITIVE_INFINITY : this.#lastStart + this.#max;
    const at = Math.min(this.#due ?? Number.POSITIVE_INFINITY, periodic);
    if (at === Number.POSITIVE_INFINITY) return;
    if (this.#timer !== undefined && this.#timerAt === at) return;
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        this.#timerAt = undefined;
        this.#running = this.#tick();
      },
      Math.max(0, at - this.#clock.now()),
    );
  }

  async #tick(): Promise<void> {
    this.#due = undefined;
    this.#lastStart = this.#clock.now();
    this.#runs++;
    let failed = false;
    try {
      await this.#fn();
    } catch (error) {
      failed = true;
      this.#onError?.(error);
    }
    this.#running = undefined;
    if (failed) this.#request(this.#clock.now() + this.#retry);
    else this.#arm();
  }
}
