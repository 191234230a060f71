/**
 * The error of the benchmark: a tool is missing, a load tool failed, or a measured target misbehaved.
 *
 * @module
 */
import { KproxyError } from '../../src/contracts/errors.ts';

/** Something the benchmark needs went wrong; the message says what, `cause` keeps the original error. */
export class BenchError extends KproxyError {
  override readonly name = 'BenchError';
  override readonly code = 'KPROXY_BENCH';
}
