/**
 * The result of validating one untrusted Kubernetes object.
 *
 * @module
 */
import type { ObjectProblem } from './problem.ts';

/**
 * What a validator returns for one object:
 * - `ok: true` with the validated, defaulted value, and possibly `problems` with optional fields that were
 *   dropped (a bad `spec.trafficDistribution` or endpoint hint): the object is kept without them, as the
 *   proxy it stands in for would still proxy it; the problems are reported all the same;
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
  | { readonly ok: true; readonly value: T; readonly problems?: readonly ObjectProblem[] }
  | { readonly ok: 'skipped'; readonly reason: string }
  | { readonly ok: false; readonly problems: readonly ObjectProblem[] };
