/**
 * The connect attempts of a TCP relay, shared by its engines: the per-connection attempt state, how a
 * failed attempt is accounted (the same counters and metrics in every engine), and the connect timeouts:
 * one timer per relay, armed while connects are in progress, instead of one timer per connection (the
 * granularity is {@link SWEEP_MS}).
 *
 * @module
 */
import type { RelayHost } from './relay_engine.ts';

/** Granularity of connect timeouts. */
export const SWEEP_MS = 20;

/** Something with a connect deadline. */
export interface HasDeadline {
  /** When the current connect attempt times out (performance.now() ms). */
  deadline: number;
}

/**
 * The connects in progress of one relay, and the timer that expires them.
 *
 * @example
 * const deadlines = new ConnectDeadlines<Conn>((conn) => retry(conn));
 * deadlines.add(conn, 250); // expire(conn) runs 250-270 ms from now unless delete(conn) comes first
 */
export class ConnectDeadlines<C extends HasDeadline> {
  readonly #pending = new Set<C>();
  readonly #expire: (item: C) => void;
  #timer: NodeJS.Timeout | undefined;

  /** @param expire called (once, after removal) for an item whose deadline passed */
  constructor(expire: (item: C) => void) {
    this.#expire = expire;
  }

  /** Starts the clock of one connect attempt. */
  add(item: C, timeoutMs: number): void {
    item.deadline = performance.now() + timeoutMs;
    this.#pending.add(item);
    if (this.#timer === undefined) {
      this.#timer = setInterval(sweep, SWEEP_MS, this);
      this.#timer.unref();
    }
  }

  /** The attempt ended (connected, failed, or abandoned). */
  delete(item: C): void {
    this.#pending.delete(item);
  }

  /** Stops the timer (pending items never expire). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** @internal */
  sweep(): void {
    if (this.#pending.size === 0) {
      this.stop();
      return;
    }
    const now = performance.now();
    for (const item of this.#pending) {
      if (now < item.deadline) continue;
      this.#pending.delete(item);
      this.#expire(item);
    }
  }
}

function sweep<C extends HasDeadline>(deadlines: ConnectDeadlines<C>): void {
  deadlines.sweep();
}

/** @internal The connect-attempt state every engine keeps per client connection. */
export abstract class AttemptState {
  /** Attempts made so far (the index of the next attempt's timeout). */
  attempt = 0;
  /** When the current connect attempt times out (performance.now() ms). */
  deadline = 0;
  connected = false;
  /** Set once the connection is accounted as ended. */
  done = false;
}

/**
 * @internal Accounts for a failed connect attempt, the same way in every engine.
 *
 * @param gone the client is gone already (default: the connection is done)
 * @returns `retry` (counted as a dial retry: try the next backend), `give-up` (counted as a dial failure:
 *   close the client) or `gone` (the client is gone already: nothing more to do)
 */
export function attemptFailed(
  host: RelayHost,
  conn: AttemptState,
  gone: boolean = conn.done,
): 'retry' | 'give-up' | 'gone' {
  host.counters.failedAttempts++;
  conn.attempt++;
  if (gone) return 'gone';
  if (conn.attempt < host.timeouts.length) {
    host.metrics.dialRetry();
    return 'retry';
  }
  noBackend(host);
  return 'give-up';
}

/** @internal Accounts for a client closed because no backend could be dialled (or there was none). */
export function noBackend(host: RelayHost): void {
  host.counters.failed++;
  host.metrics.dialFailure();
}
