/**
 * Records objects that cannot be proxied as Kubernetes Events (events.k8s.io/v1, type Warning, reason
 * `FailedToProxy`) on the object itself, so that `kubectl describe service web` shows why.
 *
 * Like client-go's event broadcaster it protects the API server: identical events (same object, same
 * note) are sent once per dedupe window, and a token bucket (burst 25, then one per 10 s by default)
 * caps the rate; what is dropped is counted and logged at debug level. Sending is fire-and-forget: a
 * failure is logged, never thrown.
 *
 * @module
 */
import { type EventsV1Event, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { formatProblem, type ObjectProblem } from '../../model/problem.ts';
import type { SourceClock } from './clock.ts';
import { describeError } from './reflector_errors.ts';

/** The part of the client's `EventsV1Api` the recorder uses. */
export interface EventsClient {
  createNamespacedEvent(param: { namespace: string; body: EventsV1Event }): Promise<EventsV1Event>;
}

/** The object an event is about. */
export interface RegardingObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
}

/** Options of {@link ProblemEventRecorder}. */
export interface ProblemEventRecorderOptions {
  readonly events: EventsClient;
  /** The node this proxy runs on: the event's reporting instance is `kproxy-<node>`. */
  readonly nodeName: string;
  readonly clock: SourceClock;
  readonly logger: Logger;
  /** Events that may be sent at once (default 25). */
  readonly burst?: number | undefined;
  /** One more event may be sent every this many ms (default 10 000). */
  readonly refillMs?: number | undefined;
  /** The same note on the same object is sent at most once per this many ms (default 10 minutes). */
  readonly dedupeMs?: number | undefined;
}

/** The reason of every event the recorder sends. */
export const FAILED_TO_PROXY = 'FailedToProxy';

const MAX_NOTE = 1024;
const MAX_TRACKED = 4096;

/**
 * Sends rate-limited, de-duplicated Warning events about objects with problems.
 *
 * @example
 * const recorder = new ProblemEventRecorder({ events: kc.makeApiClient(EventsV1Api), nodeName, clock, logger });
 * recorder.record(regarding, problems);
 * await recorder.flush();
 */
export class ProblemEventRecorder {
  readonly #o: ProblemEventRecorderOptions;
  readonly #lastSent = new Map<string, number>();
  readonly #pending = new Set<Promise<void>>();
  #tokens: number;
  #refilledAt: number;
  #sent = 0;
  #dropped = 0;

  /** @param options the client, identity, clock and limits */
  constructor(options: ProblemEventRecorderOptions) {
    this.#o = options;
    this.#tokens = options.burst ?? 25;
    this.#refilledAt = options.clock.now();
  }

  /** Events handed to the API so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Events not sent because of the dedupe window or the rate limit. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Records that `regarding` cannot be proxied because of `problems` (one event for all of them).
   *
   * @param regarding the object
   * @param problems what is wrong with it (formatted into the note)
   */
  record(regarding: RegardingObject, problems: readonly ObjectProblem[]): void {
    if (problems.length === 0) return;
    const now = this.#o.clock.now();
    const note = truncate(problems.map(formatProblem).join('; '), MAX_NOTE);
    const key = `${regarding.kind}/${regarding.namespace}/${regarding.name}\n${note}`;
    const dedupeMs = this.#o.dedupeMs ?? 600_000;
    const last = this.#lastSent.get(key);
    if (last !== undefined && now - last < dedupeMs) {
      this.#drop(regarding, 'duplicate');
      return;
    }
    if (!this.#takeToken(now)) {
      this.#drop(regarding, 'rate limited');
      return;
    }
    this.#remember(key, now, dedupeMs);
    const body = this.#event(regarding, note, now);
    this.#sent++;
    const sending = this.#o.events
      .createNamespacedEvent({ namespace: regarding.namespace, body })
      .then(
        () => undefined,
        (err: unknown) => {
          this.#o.logger.warn(
            {
              object: `${regarding.kind} ${regarding.namespace}/${regarding.name}`,
              error: describeError(err),
            },
            'Could not record event',
          );
        },
      )
      .finally(() => this.#pending.delete(sending));
    this.#pending.add(sending);
  }

  /** Waits until every event handed to the API so far has been answered. */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  #drop(regarding: RegardingObject, why: string): void {
    this.#dropped++;
    this.#o.logger.debug(
      { object: `${regarding.kind} ${regarding.namespace}/${regarding.name}`, why },
      'Event dropped',
    );
  }

  #takeToken(now: number): boolean {
    const burst = this.#o.burst ?? 25;
    const refillMs = this.#o.refillMs ?? 10_000;
    const earned = Math.floor((now - this.#refilledAt) / refillMs);
    if (earned > 0) {
      this.#tokens = Math.min(burst, this.#tokens + earned);
      this.#refilledAt += earned * refillMs;
    }
    if (this.#tokens === burst) this.#refilledAt = now;
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }

  /** Remembers when a key was sent; forgets expired keys so that the map stays bounded. */
  #remember(key: string, now: number, dedupeMs: number): void {
    if (this.#lastSent.size >= MAX_TRACKED) {
      for (const [k, at] of this.#lastSent) {
        if (now - at >= dedupeMs) this.#lastSent.delete(k);
      }
      // Still full: forget the oldest (Map iterates in insertion order).
      const oldest = this.#lastSent.keys().next();
      if (this.#lastSent.size >= MAX_TRACKED && !oldest.done) this.#lastSent.delete(oldest.value);
    }
    this.#lastSent.delete(key);
    this.#lastSent.set(key, now);
  }

  #event(regarding: RegardingObject, note: string, now: number): EventsV1Event {
    // As client-go names events: `<object>.<unix nanos in hex>`, kept within the 253-character limit.
    const suffix = (BigInt(now) * 1_000_000n + BigInt(this.#sent % 1_000_000)).toString(16);
    const name = `${regarding.name.slice(0, 253 - suffix.length - 1)}.${suffix}`;
    const reference: NonNullable<EventsV1Event['regarding']> = {
      apiVersion: regarding.apiVersion,
      kind: regarding.kind,
      namespace: regarding.namespace,
      name: regarding.name,
    };
    if (regarding.uid !== undefined) reference.uid = regarding.uid;
    if (regarding.resourceVersion !== undefined) reference.resourceVersion = regarding.resourceVersion;
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace: regarding.namespace },
      eventTime: new V1MicroTime(now),
      reportingController: 'kproxy',
      reportingInstance: truncate(`kproxy-${this.#o.nodeName}`, 128),
      action: 'Proxy',
      reason: FAILED_TO_PROXY,
      type: 'Warning',
      regarding: reference,
      note,
    };
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}
