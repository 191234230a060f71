/**
 * Errors the list-watch loop reports (in logs; it never throws them to its caller, it retries).
 *
 * @module
 */
import { KproxyError } from '../../contracts/errors.ts';

/** A list or watch that outlived its client-side deadline (e.g. a half-open connection). */
export class ApiDeadlineError extends KproxyError {
  override readonly name = 'ApiDeadlineError';
  override readonly code = 'KPROXY_API_DEADLINE';
}

/** The API server ended a watch with an ERROR event other than 410 Gone. */
export class WatchStatusError extends KproxyError {
  override readonly name = 'WatchStatusError';
  override readonly code = 'KPROXY_WATCH_STATUS';
  /** The Status code the server sent (e.g. 500), 0 when absent. */
  readonly status: number;

  /**
   * @param message what happened
   * @param status the Status code from the ERROR event
   */
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/**
 * The HTTP status carried by an error from the client (`ApiException.code` for typed calls,
 * `statusCode` for the Watch class), or undefined for a network error.
 *
 * @param err anything thrown or passed to a done callback
 * @returns the status code, if any
 * @example httpStatusOf(Object.assign(new Error('Gone'), { statusCode: 410 })) // 410
 */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

/**
 * A one-line description of an error for logs: the message's first line and the HTTP status if any.
 * (The client's ApiException message embeds the whole response body and headers.)
 *
 * @param err anything thrown
 * @returns e.g. `HTTP 503` or `connect ECONNREFUSED 127.0.0.1:6443`
 */
export function describeError(err: unknown): string {
  const statusCode = httpStatusOf(err);
  if (statusCode !== undefined) {
    const message = statusMessage((err as { body?: unknown }).body);
    return `HTTP ${statusCode}${message === undefined ? '' : `: ${message}`}`;
  }
  if (err instanceof Error) return (err.message.split('\n')[0] ?? err.name) || err.name;
  return String(err);
}

/** The `message` of a Status body, given as an object or as JSON text (as ApiException carries it). */
function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const message = (parsed as { message?: unknown }).message;
  return typeof message === 'string' && message !== '' ? message.split('\n')[0] : undefined;
}
