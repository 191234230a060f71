/**
 * Exponential backoff with jitter, as client-go's reflector uses between failed list/watch attempts.
 *
 * @module
 */

/** How delays grow. Defaults follow client-go's reflector (800 ms doubling to 30 s, jitter 1.0). */
export interface BackoffOptions {
  /** First delay in ms. */
  readonly initialMs: number;
  /** Largest delay in ms (before jitter). */
  readonly maxMs: number;
  /** Growth per failure (2 = doubling). */
  readonly factor: number;
  /** Up to this fraction of the delay is added at random (0 = none), to spread reconnecting nodes. */
  readonly jitter: number;
}

/** client-go's reflector defaults. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 800, maxMs: 30_000, factor: 2, jitter: 1 };

/**
 * Tracks consecutive failures and returns the delay before the next attempt.
 *
 * @example
 * const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
 * b.next(); // 100
 * b.next(); // 200
 * b.reset();
 * b.next(); // 100
 */
export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  #failures = 0;

  /**
   * @param options growth parameters
   * @param random a source of numbers in [0, 1) for the jitter (default `Math.random`)
   */
  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.#options = options;
    this.#random = random;
  }

  /** Failures counted since the last {@link reset}. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Counts one more failure.
   *
   * @returns the delay in ms to wait before the next attempt
   */
  next(): number {
    const { initialMs, maxMs, factor, jitter } = this.#options;
    const base = Math.min(maxMs, initialMs * factor ** this.#failures);
    this.#failures++;
    return Math.round(base + base * jitter * this.#random());
  }

  /** Forgets the failures after a success. */
  reset(): void {
    this.#failures = 0;
  }
}
