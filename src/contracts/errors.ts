/**
 * The one base class of kproxy's errors and the closed list of their codes (as undici's `UND_ERR_*`):
 * every error kproxy throws has a fixed `name`, a stable `code` that tools, tests and metrics match on
 * (messages may be reworded, codes may not), and keeps the failure it wraps as `cause`.
 * docs/errors.md lists every code with what to do about it; a test keeps the two in step.
 *
 * Input problems (a bad Service in a manifest) are not errors: sources report them as values with their
 * own codes (`ProblemCode` in model/problem.ts), listed in the same document.
 *
 * @module
 */

/**
 * Every code a {@link KproxyError} may carry, as `KPROXY_<WHERE>_<WHAT>`. A new error class adds its code
 * here and a row to docs/errors.md; a code, once released, is never renamed or reused.
 */
export const KPROXY_ERROR_CODES = [
  // kernel seam
  'KPROXY_KERNEL',
  'KPROXY_IPTABLES_UNAVAILABLE',
  'KPROXY_IPTABLES_RESTORE_REFUSED',
  'KPROXY_IPTABLES_RESTORE_SYNTAX',
  'KPROXY_IPTABLES_RULE_SYNTAX',
  'KPROXY_IPSET_CONFLICT',
  'KPROXY_IPVS_PARSE',
  'KPROXY_NFT_REFUSED',
  'KPROXY_NFT_UNAVAILABLE',
  'KPROXY_NFT_PARSE',
  // sources
  'KPROXY_KUBECONFIG',
  'KPROXY_NODE_LOOKUP',
  'KPROXY_API_DEADLINE',
  'KPROXY_WATCH_STATUS',
  // modes
  'KPROXY_IPVS_UNAVAILABLE',
  'KPROXY_IPVS_SCHEDULER_UNKNOWN',
  'KPROXY_FAMILY_SYNC',
  // server and cli
  'KPROXY_BIND_ADDRESS',
  'KPROXY_LISTEN',
  'KPROXY_FLAG_INVALID',
  'KPROXY_CONFIG_INVALID',
  // test support, lab and benchmarks (never thrown by the daemon)
  'KPROXY_LAB',
  'KPROXY_GUEST',
  'KPROXY_BENCH',
  'KPROXY_CHAOS_USAGE',
  'KPROXY_WAIT_TIMEOUT',
  'KPROXY_FAKE_SELECTOR',
] as const;

/** A stable error code: one of {@link KPROXY_ERROR_CODES}. */
export type KproxyErrorCode = (typeof KPROXY_ERROR_CODES)[number];

/**
 * The base class of every error kproxy throws. Subclasses fix `name` (the class name) and `code`:
 *
 * @example
 * ```ts
 * export class FlagError extends KproxyError {
 *   override readonly name = 'FlagError';
 *   override readonly code = 'KPROXY_FLAG_INVALID';
 * }
 * throw new FlagError('Invalid --cluster-cidr: not a CIDR: "nope"');
 * ```
 */
export abstract class KproxyError extends Error {
  /** The class name, fixed per subclass (so that it survives minification and shows in logs). */
  abstract override readonly name: string;
  /** What went wrong, as a stable code listed in docs/errors.md. */
  abstract readonly code: KproxyErrorCode;

  /**
   * @param message what failed (capital letter, no final period, details after a colon)
   * @param options `cause`: the failure this error wraps
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Tells kproxy's own errors from anything else thrown (a bug, a Node error).
 *
 * @param error anything caught
 * @returns true for a {@link KproxyError}
 * @example if (isKproxyError(error)) log.error({ code: error.code }, error.message)
 */
export function isKproxyError(error: unknown): error is KproxyError {
  return error instanceof KproxyError;
}

/**
 * Tells a string is one of kproxy's error codes (e.g. a `code` read from a log line or a wrapped error).
 *
 * @param code any string
 * @returns true when it is in {@link KPROXY_ERROR_CODES}
 * @example isKproxyErrorCode('KPROXY_KERNEL') // true
 */
export function isKproxyErrorCode(code: string): code is KproxyErrorCode {
  return (KPROXY_ERROR_CODES as readonly string[]).includes(code);
}
