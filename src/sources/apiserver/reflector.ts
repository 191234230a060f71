/**
 * A list-then-watch loop for one resource, in the manner of client-go's reflector, built on the
 * official client's `Watch` class and typed list calls.
 *
 * Why not the client's own `ListWatch`/`makeInformer` (1.4): on any error other than 410 it reports
 * the error and stops for good (the caller must restart it); it never backs off (a server that accepts
 * and closes watches makes it spin); it cannot ask for bookmarks or a server-side watch timeout; the
 * Watch class has no deadline, so a half-open connection hangs it forever; it does not paginate; and a
 * list in flight while it is stopped still delivers events. This loop keeps the informer's good parts
 * (relist diffed against the cache, 410 handling) and fills those gaps.
 *
 * Guarantees:
 * - a re-list delivers only the difference with what was known (deletes of what is gone, upserts of
 *   what is new or has another resourceVersion);
 * - a broken connection, an error status or a server that is down never deletes anything: the cache
 *   stays, and the loop retries with exponential backoff (reset by a healthy watch);
 * - after {@link Reflector.run} resolves, the handler is not called again.
 *
 * @module
 */
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import type { SourceClock } from './clock.ts';
import { ApiDeadlineError, describeError, httpStatusOf, WatchStatusError } from './reflector_errors.ts';

/** An API object as JSON (list items are normalised to the same shape as watch objects). */
export type RawObject = Readonly<Record<string, unknown>>;

/** One page of a list call. */
export interface ListPage {
  readonly items: readonly RawObject[];
  readonly resourceVersion: string;
  /** The `continue` token; undefined on the last page. */
  readonly continueToken: string | undefined;
}

/** A list request: one page, from the start (`continueToken` undefined) or continued. */
export interface ListRequest {
  /** Page size; undefined = everything at once. */
  readonly limit: number | undefined;
  readonly continueToken: string | undefined;
  /** Aborted on stop and on the client-side deadline. */
  readonly signal: AbortSignal;
}

/** Lists one page of a resource (a typed list call of the official client). */
export type ListFn = (request: ListRequest) => Promise<ListPage>;

/** The shape of the official client's `Watch` class. */
export interface WatchClient {
  watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

/** What the loop tells its owner. Keys are `namespace/name` (`/name` for cluster-scoped objects). */
export interface ReflectorHandler {
  /** An object appeared, or its resourceVersion changed. */
  onUpsert(object: RawObject, key: string): void;
  /** An object was deleted, left the selection, or is missing from a re-list. */
  onDelete(key: string): void;
  /** The first list completed (called once). */
  onSynced(): void;
}

/** Options of {@link Reflector}. */
export interface ReflectorOptions {
  /** Name for logs, e.g. `services`. */
  readonly resource: string;
  /** The collection path for watches, e.g. `/api/v1/services`. */
  readonly path: string;
  readonly list: ListFn;
  readonly watch: WatchClient;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  readonly clock: SourceClock;
  readonly logger: Logger;
  /** Page size of lists (default 500, as client-go). */
  readonly pageSize?: number | undefined;
  /** Retry delays (default {@link DEFAULT_BACKOFF}). */
  readonly backoff?: BackoffOptions | undefined;
  /** Randomness for jitter and watch timeouts (default `Math.random`). */
  readonly random?: (() => number) | undefined;
  /**
   * Server-side timeout asked for each watch, in seconds (default: 300-600 at random, as client-go, so
   * that nodes do not all reconnect at once).
   */
  readonly watchTimeoutSeconds?: number | undefined;
  /** Added to the watch timeout for the client-side deadline; also the deadline of a list (default 60 s). */
  readonly requestDeadlineMs?: number | undefined;
  /**
   * A watch counts as healthy (the backoff resets, the next attempt is immediate) if it delivered an
   * event or lasted this long (default 1000 ms).
   */
  readonly healthyWatchMs?: number | undefined;
}

type WatchOutcome = { readonly error: unknown; readonly gone: boolean; readonly healthy: boolean };

function metadataOf(object: unknown): Record<string, unknown> {
  if (typeof object !== 'object' || object === null) return {};
  const metadata = (object as { metadata?: unknown }).metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {};
}

function stringField(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  return typeof value === 'string' ? value : '';
}

/**
 * The cache key of an object.
 *
 * @param object an API object
 * @returns `namespace/name`
 */
export function objectKey(object: unknown): string {
  const metadata = metadataOf(object);
  return `${stringField(metadata, 'namespace')}/${stringField(metadata, 'name')}`;
}

function isGoneStatus(object: unknown): boolean {
  if (typeof object !== 'object' || object === null) return false;
  const s = object as { code?: unknown; reason?: unknown };
  return s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone';
}

/**
 * Lists then watches one resource until stopped; see the module documentation for the guarantees.
 *
 * @example
 * const r = new Reflector({ resource: 'services', path: '/api/v1/services', list, watch, clock, logger });
 * const stopped = new AbortController();
 * const done = r.run(handler, stopped.signal);
 * // ...
 * stopped.abort();
 * await done;
 */
export class Reflector {
  readonly #o: ReflectorOptions;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  /** key -> resourceVersion of what the handler last saw. */
  readonly #cache = new Map<string, string>();
  #resourceVersion = '';
  #synced = false;

  /** @param options what to watch, how, and the timings */
  constructor(options: ReflectorOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF, this.#random);
  }

  /** True once the first list completed. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from ('' = a list comes first). */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** Number of objects known. */
  get size(): number {
    return this.#cache.size;
  }

  /**
   * Lists and watches until `signal` aborts. Never rejects: failures are logged and retried.
   *
   * @param handler receives upserts, deletes and the first sync
   * @param signal stops the loop (in-flight requests are aborted)
   * @returns resolves when stopped; the handler is not called afterwards
   */
  async run(handler: ReflectorHandler, signal: AbortSignal): Promise<void> {
    const log = this.#o.logger;
    while (!signal.aborted) {
      if (this.#resourceVersion === '') {
        try {
          await this.#relist(handler, signal);
        } catch (err) {
          if (signal.aborted) return;
          const retryInMs = this.#backoff.next();
          log.warn({ resource: this.#o.resource, error: describeError(err), retryInMs }, 'List failed');
          await this.#o.clock.sleep(retryInMs, signal);
          continue;
        }
      }
      const outcome = await this.#watchOnce(handler, signal);
      if (signal.aborted) return;
      if (outcome.gone) {
        log.info({ resource: this.#o.resource }, 'Watch expired (410 Gone); listing again');
        this.#resourceVersion = '';
      }
      if (outcome.healthy) {
        this.#backoff.reset();
        if (outcome.error !== undefined) {
          log.info(
            { resource: this.#o.resource, error: describeError(outcome.error) },
            'Watch broke; reconnecting',
          );
        }
        continue;
      }
      const retryInMs = this.#backoff.next();
      const error = outcome.error === undefined ? 'closed without events' : describeError(outcome.error);
      log.warn({ resource: this.#o.resource, error, retryInMs }, 'Watch failed');
      await this.#o.clock.sleep(retryInMs, signal);
    }
  }

  async #relist(handler: ReflectorHandler, signal: AbortSignal): Promise<void> {
    const items: RawObject[] = [];
    let limit: number | undefined = this.#o.pageSize ?? 500;
    let continueToken: string | undefined;
    let resourceVersion = '';
    for (;;) {
      let page: ListPage;
      try {
        page = await this.#listWithDeadline({ limit, continueToken }, signal);
      } catch (err) {
        if (continueToken === undefined || httpStatusOf(err) !== 410 || signal.aborted) throw err;
        // The snapshot behind the continue token was compacted: as client-go, fall back to one full list.
        this.#o.logger.info(
          { resource: this.#o.resource },
          'List continuation expired; listing without pages',
        );
        items.length = 0;
        limit = undefined;
        continueToken = undefined;
        continue;
      }
      items.push(...page.items);
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken === '' ? undefined : page.continueToken;
      if (continueToken === undefined) break;
    }
    if (signal.aborted) return;
    this.#replace(items, resourceVersion, handler);
  }

  async #listWithDeadline(
    request: Pick<ListRequest, 'limit' | 'continueToken'>,
    signal: AbortSignal,
  ): Promise<ListPage> {
    const deadline = new AbortController();
    const settled = new AbortController();
    const deadlineMs = this.#o.requestDeadlineMs ?? 60_000;
    void this.#o.clock.sleep(deadlineMs, AbortSignal.any([settled.signal, signal])).then(() => {
      if (!settled.signal.aborted && !signal.aborted) {
        deadline.abort(new ApiDeadlineError(`List of ${this.#o.resource} took longer than ${deadlineMs} ms`));
      }
    });
    const combined = AbortSignal.any([signal, deadline.signal]);
    try {
      return await Promise.race([
        this.#o.list({ ...request, signal: combined }),
        new Promise<never>((_, reject) => {
          combined.addEventListener('abort', () => reject(combined.reason), { once: true });
        }),
      ]);
    } finally {
      settled.abort();
    }
  }

  /** Folds a full list into the cache, telling the handler only what differs. */
  #replace(items: readonly RawObject[], resourceVersion: string, handler: ReflectorHandler): void {
    const listed = new Set(items.map(objectKey));
    for (const key of [...this.#cache.keys()]) {
      if (listed.has(key)) continue;
      this.#cache.delete(key);
      this.#call(() => handler.onDelete(key));
    }
    for (const item of items) this.#upsert(item, handler);
    this.#resourceVersion = resourceVersion;
    this.#o.logger.debug({ resource: this.#o.resource, items: items.length, resourceVersion }, 'Listed');
    if (!this.#synced) {
      this.#synced = true;
      this.#call(() => handler.onSynced());
    }
  }

  #upsert(object: RawObject, handler: ReflectorHandler): void {
    const key = objectKey(object);
    const rv = stringField(metadataOf(object), 'resourceVersion');
    if (rv !== '' && this.#cache.get(key) === rv) return;
    this.#cache.set(key, rv);
    this.#call(() => handler.onUpsert(object, key));
  }

  /** A handler must not throw; if it does, the loop logs it and carries on. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#o.logger.error({ resource: this.#o.resource, error: describeError(err) }, 'Event handler threw');
    }
  }

  /** Applies one watch event; returns what it means for the watch. */
  #onWatchEvent(type: string, object: unknown, handler: ReflectorHandler): 'ok' | 'gone' | WatchStatusError {
    const rv = stringField(metadataOf(object), 'resourceVersion');
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#upsert(object as RawObject, handler);
        break;
      case 'DELETED': {
        const key = objectKey(object);
        if (this.#cache.delete(key)) this.#call(() => handler.onDelete(key));
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        if (isGoneStatus(object)) return 'gone';
        const s = (object ?? {}) as { code?: unknown; message?: unknown };
        const code = typeof s.code === 'number' ? s.code : 0;
        return new WatchStatusError(`Watch error event: ${String(s.message ?? 'no message')}`, code);
      }
      default:
        this.#o.logger.debug({ resource: this.#o.resource, type }, 'Ignoring unknown watch event');
        return 'ok';
    }
    if (rv !== '') this.#resourceVersion = rv;
    return 'ok';
  }

  #watchOnce(handler: ReflectorHandler, signal: AbortSignal): Promise<WatchOutcome> {
    const { clock } = this.#o;
    const timeoutSeconds = this.#o.watchTimeoutSeconds ?? Math.floor(300 * (1 + this.#random()));
    const deadlineMs = timeoutSeconds * 1000 + (this.#o.requestDeadlineMs ?? 60_000);
    const healthyMs = this.#o.healthyWatchMs ?? 1000;
    const query: Record<string, string | number | boolean | undefined> = {
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds,
      labelSelector: this.#o.labelSelector,
      fieldSelector: this.#o.fieldSelector,
    };
    return new Promise((resolve) => {
      const started = clock.now();
      const ended = new AbortController();
      let events = 0;
      let gone = false;
      let controller: AbortController | undefined;
      const finish = (error: unknown): void => {
        if (ended.signal.aborted) return;
        ended.abort();
        signal.removeEventListener('abort', onStop);
        controller?.abort();
        resolve({ error, gone, healthy: events > 0 || clock.now() - started >= healthyMs });
      };
      const onStop = (): void => finish(undefined);
      signal.addEventListener('abort', onStop, { once: true });
      if (signal.aborted) {
        finish(undefined);
        return;
      }
      void clock.sleep(deadlineMs, ended.signal).then(() => {
        finish(new ApiDeadlineError(`Watch of ${this.#o.resource} outlived its ${deadlineMs} ms deadline`));
      });
      this.#o.watch
        .watch(
          this.#o.path,
          query,
          (type, object) => {
            if (ended.signal.aborted) return;
            const result = this.#onWatchEvent(type, object, handler);
            if (result === 'gone') {
              gone = true;
              finish(undefined);
            } else if (result instanceof WatchStatusError) {
              finish(result);
            } else {
              events++;
            }
          },
          (err) => {
            if (httpStatusOf(err) === 410) gone = true;
            finish(err === null || gone ? undefined : err);
          },
        )
        .then(
          (c) => {
            controller = c;
            if (ended.signal.aborted) c.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }
}
