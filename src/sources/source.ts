/**
 * The contract between sources (manifests directory, API server) and the tracker: a stream of typed
 * events about validated objects. A source validates shape and reports problems; it never decides what
 * the proxy does.
 *
 * @module
 */
import type { ObjectProblem } from '../model/problem.ts';
import type { EndpointSliceSpec, ServiceSpec } from '../model/types.ts';
import type { NodeSpec } from '../model/validate_node.ts';

/** A validated object that the tracker folds into the proxy state. */
export type ProxyObject =
  | { readonly kind: 'Service'; readonly spec: ServiceSpec }
  | { readonly kind: 'EndpointSlice'; readonly spec: EndpointSliceSpec };

/** Identifies a deleted object. For `EndpointSlice`, `legacy` tells a core/v1 Endpoints object apart. */
export type ProxyObjectRef =
  | { readonly kind: 'Service'; readonly namespace: string; readonly name: string }
  | {
      readonly kind: 'EndpointSlice';
      readonly namespace: string;
      readonly name: string;
      readonly legacy: boolean;
    };

/**
 * What a source emits. `at` is when the source first saw the change (epoch ms), the start of the
 * network-programming latency.
 */
export type SourceEvent =
  | { readonly type: 'add' | 'update'; readonly object: ProxyObject; readonly at: number }
  | { readonly type: 'delete'; readonly ref: ProxyObjectRef; readonly at: number }
  /** The initial list is complete: the tracker may allow the first sync. */
  | { readonly type: 'synced' }
  /** A bad or unsupported object (skipped, or its last good version kept). */
  | { readonly type: 'problem'; readonly problem: ObjectProblem };

/** Receives source events; must not throw. */
export type SourceSink = (event: SourceEvent) => void;

/**
 * What a source learns about this proxy's own Node (the one named `--hostname-override`): its validated
 * spec when first seen and whenever what kproxy reads of it changes, or that it is gone. A bad version is
 * a `problem` {@link SourceEvent} instead, and the last good one stays.
 *
 * Not a {@link SourceEvent}: the node is not an object the tracker folds into the proxy state; the daemon
 * applies it (zone to the tracker, addresses to the plan options, eligibility to `/healthz`).
 */
export type NodeEvent =
  | { readonly type: 'node'; readonly node: NodeSpec; readonly at: number }
  | { readonly type: 'nodeDeleted'; readonly name: string; readonly at: number };

/** Receives node events; must not throw. */
export type NodeSink = (event: NodeEvent) => void;

/** Options of {@link ProxySource.start}. */
export interface SourceStartOptions {
  /** Receives this node's Node object; a source that cannot see Nodes never calls it. */
  readonly onNode?: NodeSink | undefined;
}

/** A running source of objects. */
export interface ProxySource {
  /**
   * Starts delivering events to `sink` (and node events to `options.onNode`); resolves once the source
   * is running (not when synced). Node events of the initial list come before `synced`.
   */
  start(sink: SourceSink, options?: SourceStartOptions): Promise<void>;
  /** Stops watching; no event is delivered after it resolves. */
  stop(): Promise<void>;
}

/** Returns a key `Kind/namespace/name` for an object reference (legacy Endpoints get kind `Endpoints`). */
export function refKey(ref: ProxyObjectRef): string {
  const kind = ref.kind === 'EndpointSlice' && ref.legacy ? 'Endpoints' : ref.kind;
  return `${kind}/${ref.namespace}/${ref.name}`;
}

/** The reference of an object. */
export function objectRef(object: ProxyObject): ProxyObjectRef {
  switch (object.kind) {
    case 'Service':
      return { kind: 'Service', namespace: object.spec.namespace, name: object.spec.name };
    case 'EndpointSlice':
      return {
        kind: 'EndpointSlice',
        namespace: object.spec.namespace,
        name: object.spec.name,
        legacy: object.spec.legacy,
      };
    default: {
      const never: never = object;
      throw new Error(`Unknown object: ${String(never)}`);
    }
  }
}
