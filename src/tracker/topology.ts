/**
 * Topology-aware routing as upstream kube-proxy decides it (`topologyModeFromHints` and
 * `availableForTopology` in pkg/proxy/topology.go, Kubernetes 1.33/1.34 with PreferSameTrafficDistribution
 * on): the proxy follows the EndpointSlice hints and never reads `spec.trafficDistribution` itself.
 *
 * - Only ready endpoints count; with none ready, hints are not considered.
 * - Node hints (`hints.forNodes`, written for `PreferSameNode`) are used when every ready endpoint has one
 *   and at least one is for this node: only the endpoints hinted for this node are kept.
 * - Otherwise zone hints (`hints.forZones`) are used when every ready endpoint has one and at least one is
 *   for this node's zone: only the endpoints hinted for that zone are kept.
 * - Otherwise every usable endpoint is a candidate.
 *
 * @module
 */
import type { Endpoint, TopologyDecision, TopologyMode } from '../model/types.ts';

/** What topology needs to know about this node. */
export interface TopologyNode {
  /** This proxy's node name, matched against node hints. */
  readonly nodeName: string;
  /** This node's `topology.kubernetes.io/zone` label, matched against zone hints. */
  readonly zone: string | undefined;
}

/** The decision of a service port none of whose endpoints has hints (shared: the common case). */
export const NO_HINTS: TopologyDecision = Object.freeze({ mode: undefined, reason: 'no hints' });

/** The decision when hints exist but no endpoint is ready (upstream looks at ready endpoints only). */
const NO_READY: TopologyDecision = Object.freeze({
  mode: undefined,
  reason: 'hints not considered: no endpoint is ready',
});

/** `ip:port`, with an IPv6 address in brackets. */
export function endpointAddress(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/**
 * Decides which hints, if any, choose a service port's cluster endpoints on this node.
 *
 * @param endpoints every endpoint of the service port
 * @param node this node's name and zone
 * @returns the topology mode (undefined: no filtering) and a reason for people
 * @example decideTopology([endpoint({ zoneHints: ['zone-a'] })], { nodeName: 'node-a', zone: 'zone-a' })
 * // { mode: 'PreferSameZone', reason: 'hints for zone zone-a used' }
 */
export function decideTopology(endpoints: readonly Endpoint[], node: TopologyNode): TopologyDecision {
  let anyHints = false;
  let anyReady = false;
  let anyNodeHints = false;
  let missingNodeHint: Endpoint | undefined;
  let forThisNode = false;
  let anyZoneHints = false;
  let missingZoneHint: Endpoint | undefined;
  let forThisZone = false;
  for (const e of endpoints) {
    const { zoneHints, nodeHints } = e;
    if (zoneHints.length > 0 || nodeHints.length > 0) anyHints = true;
    if (!e.ready) continue;
    anyReady = true;
    if (nodeHints.length === 0) missingNodeHint ??= e;
    else {
      anyNodeHints = true;
      if (nodeHints.includes(node.nodeName)) forThisNode = true;
    }
    if (zoneHints.length === 0) missingZoneHint ??= e;
    else {
      anyZoneHints = true;
      // A node without a zone label matches no zone hint (hints are validated non-empty).
      if (node.zone !== undefined && zoneHints.includes(node.zone)) forThisZone = true;
    }
  }
  if (!anyHints) return NO_HINTS;
  if (!anyReady) return NO_READY;

  let nodeWhy: string | undefined;
  if (missingNodeHint === undefined) {
    if (forThisNode) return { mode: 'PreferSameNode', reason: `hints for node ${node.nodeName} used` };
    nodeWhy = `node hints ignored: none is for node ${node.nodeName}`;
  } else if (anyNodeHints) {
    nodeWhy = `node hints ignored: endpoint ${endpointAddress(missingNodeHint)} has no node hint`;
  }

  let zoneWhy: string | undefined;
  if (missingZoneHint === undefined) {
    if (forThisZone) {
      const reason = `hints for zone ${node.zone} used`;
      return { mode: 'PreferSameZone', reason: nodeWhy === undefined ? reason : `${reason} (${nodeWhy})` };
    }
    zoneWhy =
      node.zone === undefined
        ? 'zone hints ignored: this node has no topology.kubernetes.io/zone label'
        : `zone hints ignored: none is for zone ${node.zone}`;
  } else if (anyZoneHints) {
    zoneWhy = `zone hints ignored: endpoint ${endpointAddress(missingZoneHint)} has no zone hint`;
  }
  return { mode: undefined, reason: [nodeWhy, zoneWhy].filter((s) => s !== undefined).join('; ') };
}

/**
 * Whether an endpoint may take this node's cluster traffic under a topology mode. There is no fallback
 * here: {@link decideTopology} chose a mode only if some ready endpoint passes.
 *
 * @param endpoint the endpoint
 * @param mode the mode {@link decideTopology} chose
 * @param node this node's name and zone
 * @returns true when the endpoint's hints name this node (PreferSameNode) or its zone (PreferSameZone)
 * @example availableForTopology(endpoint({ nodeHints: ['node-a'] }), 'PreferSameNode', node) // true
 */
export function availableForTopology(endpoint: Endpoint, mode: TopologyMode, node: TopologyNode): boolean {
  switch (mode) {
    case 'PreferSameNode':
      return endpoint.nodeHints.includes(node.nodeName);
    case 'PreferSameZone':
      return node.zone !== undefined && endpoint.zoneHints.includes(node.zone);
    default: {
      const never: never = mode;
      throw new Error(`Unknown topology mode: ${String(never)}`);
    }
  }
}
