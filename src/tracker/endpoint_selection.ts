/**
 * Which endpoints may serve a service port from this node: readiness, topology hints, the terminating
 * fallback and the traffic policies, as upstream's `CategorizeEndpoints` (pkg/proxy/topology.go) decides
 * them. Topology (see ./topology.ts) narrows the cluster endpoints only; local endpoints (traffic policy
 * Local) ignore it, and when no endpoint is ready the serving+terminating fallback ignores it too.
 *
 * @module
 */
import type { Endpoint, TopologyDecision, TrafficPolicy } from '../model/types.ts';
import { availableForTopology, decideTopology, type TopologyNode } from './topology.ts';

/** The categorised endpoints of one service port. */
export interface EndpointSelection {
  readonly clusterEndpoints: readonly Endpoint[];
  readonly localEndpoints: readonly Endpoint[];
  readonly internalEndpoints: readonly Endpoint[];
  readonly externalEndpoints: readonly Endpoint[];
  /** How topology hints shaped {@link clusterEndpoints}. */
  readonly topology: TopologyDecision;
}

/** A node no hint names: a selection made without knowing the node (tests of other layers). */
const NO_NODE: TopologyNode = { nodeName: '', zone: undefined };

/** Ready endpoints; if none is ready, the ones that still serve while terminating. */
function usable(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  // Nearly always all of them: the same array then, which the modes check once for all its uses.
  if (endpoints.every((e) => e.ready)) return endpoints;
  const ready = endpoints.filter((e) => e.ready);
  if (ready.length > 0) return ready;
  return servingTerminating(endpoints);
}

function servingTerminating(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  return endpoints.filter((e) => e.serving && e.terminating);
}

/**
 * Splits a service port's endpoints into the sets each kind of traffic may use.
 *
 * @param endpoints every endpoint known for the port (sorted)
 * @param policies the service's traffic policies
 * @param node this node's name and zone, for topology hints (default: a node no hint names)
 * @returns the selection; arrays keep the input order
 * @example selectEndpoints(eps, { internal: 'Cluster', external: 'Local' }, { nodeName: 'node-a', zone: 'a' }).externalEndpoints
 */
export function selectEndpoints(
  endpoints: readonly Endpoint[],
  policies: { readonly internal: TrafficPolicy; readonly external: TrafficPolicy },
  node: TopologyNode = NO_NODE,
): EndpointSelection {
  const topology = decideTopology(endpoints, node);
  const { mode } = topology;
  let clusterEndpoints: readonly Endpoint[];
  if (mode === undefined) {
    clusterEndpoints = usable(endpoints);
  } else {
    clusterEndpoints = endpoints.filter((e) => e.ready && availableForTopology(e, mode, node));
    // Unreachable while decideTopology picks a mode only with a ready endpoint for it; upstream keeps it.
    if (clusterEndpoints.length === 0) clusterEndpoints = servingTerminating(endpoints);
  }
  // The local fallback is decided on the local set alone: a node whose local endpoints are all
  // terminating keeps using them even when other nodes still have ready ones (upstream KEP-1669).
  const localEndpoints = usable(endpoints.filter((e) => e.isLocal));
  return {
    clusterEndpoints,
    localEndpoints,
    internalEndpoints: policies.internal === 'Local' ? localEndpoints : clusterEndpoints,
    externalEndpoints: policies.external === 'Local' ? localEndpoints : clusterEndpoints,
    topology,
  };
}
