/**
 * Connect timeouts of a TCP relay: one timer per relay, armed while connects are in progress, instead of
 * one timer per connection (the granularity is {@link SWEEP_MS}).
 *
 * @module
 */

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
