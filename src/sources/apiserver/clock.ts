/**
 * Time as the API server source sees it: the current time for event timestamps, and sleeps for backoff
 * and watch deadlines. Injected so that tests control both.
 *
 * @module
 */

/** The time source of the API server source. */
export interface SourceClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Waits `ms` milliseconds. Resolves early (never rejects) when `signal` aborts, so that a stopping
   * source is never held up by a backoff.
   */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * The real clock: `Date.now()` and `setTimeout`.
 *
 * @example await systemClock.sleep(100, AbortSignal.timeout(50)) // resolves after 50 ms
 */
export const systemClock: SourceClock = {
  now: () => Date.now(),
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  },
};
