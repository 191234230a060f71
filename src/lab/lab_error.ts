/**
 * The error of the lab (network-namespace topologies for tests and benchmarks).
 *
 * @module
 */

/** A lab could not be built, a lab command was misused, or a lab process failed to start. */
export class LabError extends Error {
  override readonly name = 'LabError';
  readonly code = 'KPROXY_LAB';
}
