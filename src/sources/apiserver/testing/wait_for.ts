/**
 * Bounded waiting for tests that observe real sockets: poll a condition until it holds or a deadline
 * passes, then fail with what was being waited for.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { KproxyError } from '../../../contracts/errors.ts';

/** A wait that ran past its deadline. */
export class WaitTimeoutError extends KproxyError {
  override readonly name = 'WaitTimeoutError';
  override readonly code = 'KPROXY_WAIT_TIMEOUT';
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many ms (default 2000). */
  readonly timeoutMs?: number | undefined;
  /** Poll every this many ms (default 5). */
  readonly intervalMs?: number | undefined;
}

/**
 * Polls `condition` until it returns true.
 *
 * @param what a description for the error message
 * @param condition checked every `intervalMs`
 * @param options deadline and poll interval
 * @throws WaitTimeoutError when the deadline passes first
 * @example await waitFor('two watches', () => api.openWatches === 2)
 */
export async function waitFor(
  what: string,
  condition: () => boolean,
  options: WaitForOptions = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 2000);
  while (!condition()) {
    if (Date.now() > deadline) throw new WaitTimeoutError(`Timed out waiting: ${what}`);
    await delay(options.intervalMs ?? 5);
  }
}
