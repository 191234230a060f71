/**
 * Counts service ports whose Local traffic policy leaves them without endpoints on this node, for
 * `kubeproxy_sync_proxy_rules_no_local_endpoints_total`. Mode-independent, so the daemon computes it
 * from the state it just synced.
 *
 * @module
 */
import type { ProxyState, ServicePortState } from '../model/types.ts';

/** Service ports dropping traffic for lack of local endpoints, per traffic policy. */
export interface NoLocalEndpointCounts {
  /** internalTrafficPolicy Local: clusterIP traffic is dropped. */
  readonly internal: number;
  /** externalTrafficPolicy Local: nodePort / externalIP / load-balancer traffic is dropped. */
  readonly external: number;
}

/**
 * Counts as upstream's proxiers do: a service port counts only when it has endpoints this node could
 * reach at all (one with none is rejected, not "missing local endpoints"), for each Local policy it uses
 * while it has no local endpoint.
 *
 * @param state the state just synced
 * @returns the counts per policy
 * @example metrics.noLocalEndpoints(countNoLocalEndpoints(state))
 */
export function countNoLocalEndpoints(state: ProxyState): NoLocalEndpointCounts {
  let internal = 0;
  let external = 0;
  for (const port of state.servicePorts.values()) {
    const externallyAccessible = isExternallyAccessible(port);
    const internalLocal = port.internalTrafficPolicy === 'Local';
    const externalLocal = externallyAccessible && port.externalTrafficPolicy === 'Local';
    const usesLocal = internalLocal || externalLocal;
    const usesCluster = !internalLocal || (externallyAccessible && !externalLocal);
    const hasLocal = port.localEndpoints.length > 0;
    const hasCluster = port.clusterEndpoints.length > 0;
    const hasEndpoints = !usesLocal ? hasCluster : !usesCluster ? hasLocal : hasCluster || hasLocal;
    if (!hasEndpoints || hasLocal) continue;
    if (internalLocal) internal++;
    if (externalLocal) external++;
  }
  return { internal, external };
}

function isExternallyAccessible(port: ServicePortState): boolean {
  return port.nodePort !== 0 || port.externalIPs.length > 0 || port.loadBalancerIPs.length > 0;
}
