/**
 * Which endpoints may serve a service port from this node: readiness, the terminating fallback and the
 * traffic policies, as upstream's `CategorizeEndpoints` (pkg/proxy/topology.go) decides them. Topology
 * hints are not applied (every ready endpoint is a candidate), which is what upstream does when hints are
 * absent.
 *
 * @module
 */
import type { Endpoint, TrafficPolicy } from '../model/types.ts';

/** The categorised endpoints of one service port. */
export interface EndpointSelection {
  readonly clusterEndpoints: readonly Endpoint[];
  readonly localEndpoints: readonly Endpoint[];
  readonly internalEndpoints: readonly Endpoint[];
  readonly externalEndpoints: readonly Endpoint[];
}

/** Ready endpoints; if none is ready, the ones that still serve while terminating. */
function usable(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  // Nearly always all of them: the same array then, which the modes check once for all its uses.
  if (endpoints.every((e) => e.ready)) return endpoints;
  const ready = endpoints.filter((e) => e.ready);
  if (ready.length > 0) return ready;
  return endpoints.filter((e) => e.serving && e.terminating);
}

/**
 * Splits a service port's endpoints into the sets each kind of traffic may use.
 *
 * @param endpoints every endpoint known for the port (sorted)
 * @param policies the service's traffic policies
 * @returns the selection; arrays keep the input order
 * @example selectEndpoints(eps, { internal: 'Cluster', external: 'Local' }).externalEndpoints
 */
export function selectEndpoints(
  endpoints: readonly Endpoint[],
  policies: { readonly internal: TrafficPolicy; readonly external: TrafficPolicy },
): EndpointSelection {
  const clusterEndpoints = usable(endpoints);
  // The local fallback is decided on the local set alone: a node whose local endpoints are all
  // terminating keeps using them even when other nodes still have ready ones (upstream KEP-1669).
  const localEndpoints = usable(endpoints.filter((e) => e.isLocal));
  return {
    clusterEndpoints,
    localEndpoints,
    internalEndpoints: policies.internal === 'Local' ? localEndpoints : clusterEndpoints,
    externalEndpoints: policies.external === 'Local' ? localEndpoints : clusterEndpoints,
  };
}
