/**
 * A problem with one input object: where it is, which field, and why. Sources report these and skip the
 * object (or keep its last good version); they never throw them.
 *
 * @module
 */

/** Stable codes for input problems, so that tests and tools can match on them. */
export type ProblemCode =
  | 'KPROXY_PARSE' // the file is not valid YAML/JSON
  | 'KPROXY_SHAPE' // an object is not an object, or has no kind/apiVersion we know
  | 'KPROXY_FIELD' // a field has a bad value
  | 'KPROXY_DUPLICATE' // the same object is defined twice
  | 'KPROXY_UNSUPPORTED'; // a valid object that kproxy cannot proxy (reported, not fatal)

/** One reported problem. `file` is absent for objects from the API server. */
export interface ObjectProblem {
  readonly code: ProblemCode;
  readonly file: string | undefined;
  /** `Service`, `EndpointSlice`, `Endpoints`, or what the object claimed to be (`?` when unknown). */
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** JSON-path-like field, e.g. `spec.ports[0].port`; empty for whole-file problems. */
  readonly field: string;
  readonly reason: string;
}

/**
 * Formats a problem as `FILE: Kind namespace/name: field: reason`.
 *
 * @param p the problem
 * @returns one line, e.g. `svc.yaml: Service default/web: spec.ports[0].port: must be 1-65535, got 70000`
 * @example formatProblem({ code: 'KPROXY_FIELD', file: 'a.yaml', kind: 'Service', namespace: 'default',
 *   name: 'web', field: 'spec.clusterIP', reason: 'not an IP address: "x"' })
 */
export function formatProblem(p: ObjectProblem): string {
  const where = p.file === undefined ? '' : `${p.file}: `;
  // A cluster-scoped object (a Node) has a name and no namespace.
  const object =
    p.namespace === ''
      ? p.name === ''
        ? p.kind
        : `${p.kind} ${p.name}`
      : `${p.kind} ${p.namespace}/${p.name}`;
  const field = p.field === '' ? '' : `${p.field}: `;
  return `${where}${object}: ${field}${p.reason}`;
}
