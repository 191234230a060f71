/**
 * The error of the test guest harness.
 *
 * @module
 */
import { KproxyError } from '../../contracts/errors.ts';

/** The guest could not be built, booted or did not report the command's result. */
export class GuestError extends KproxyError {
  override readonly name = 'GuestError';
  override readonly code = 'KPROXY_GUEST';
  /**
   * @param message what failed (capital letter, no final period, details after a colon)
   * @param console the last lines the guest printed on its console, when it booted
   * @param options the cause
   */
  constructor(
    message: string,
    readonly console = '',
    options?: ErrorOptions,
  ) {
    super(console === '' ? message : `${message}: console tail:\n${console}`, options);
  }
}
