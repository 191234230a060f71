/**
 * The error of the lab (network-namespace topologies for tests and benchmarks).
 *
 * @module
 */
import { KproxyError } from '../contracts/errors.ts';

/** A lab could not be built, a lab command was misused, or a lab process failed to start. */
export class LabError extends KproxyError {
  override readonly name = 'LabError';
  override readonly code = 'KPROXY_LAB';
}
