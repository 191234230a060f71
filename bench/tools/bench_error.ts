/**
 * The error of the benchmark: a tool is missing, a load tool failed, or a measured target misbehaved.
 *
 * @module
 */

/** Something the benchmark needs went wrong; the message says what, `cause` keeps the original error. */
export class BenchError extends Error {
  override readonly name = 'BenchError';
  readonly code = 'KPROXY_BENCH';
}
