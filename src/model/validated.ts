/**
 * The result of validating one untrusted Kubernetes object.
 *
 * @module
 */
import type { ObjectProblem } from './problem.ts';

/**
 * What a validator returns for one object:
 * - `ok: true` with the validated, defaulted value;
 * - `ok: 'skipped'` for a well-formed object that a proxy ignores (headless or ExternalName services,
 *   objects that belong to another service proxy, FQDN slices): not an error;
 * - `ok: false` with every problem found in the object (never only the first).
 *
 * @example
 * const result = validateService(object, 'svc.yaml');
 * if (result.ok === true) use(result.value);
 * else if (result.ok === false) result.problems.forEach((p) => log(formatProblem(p)));
 */
export type Validated<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: 'skipped'; readonly reason: string }
  | { readonly ok: false; readonly problems: readonly ObjectProblem[] };
