/**
 * One IP family's view of a {@link ProxyState}, as upstream's per-family proxiers see the cluster
 * (pkg/proxy/serviceport.go, endpointslicecache.go): a service port appears only when the service has a
 * cluster IP of the family; its external IPs, load-balancer IPs and `loadBalancerSourceRanges` are those of
 * the family (upstream filters the source ranges too: ranges of one family say nothing of the other);
 * its endpoints are those of the family's EndpointSlices, and readiness, topology and traffic policies are
 * decided on them alone (a dual-stack Service's IPv6 endpoints never stand in for missing IPv4 ones).
 *
 * Views are cached per service port object, so an unchanged service port keeps its view from one sync to
 * the next (the modes' partial syncs compare service ports by reference), and a single-stack service port
 * whose addresses are all of the family is its own view.
 *
 * @module
 */
import { ofFamily } from '../model/ip_family.ts';
import type { Endpoint, IPFamily, ProxyState, ServicePortKey, ServicePortState } from '../model/types.ts';
import { selectEndpoints } from './endpoint_selection.ts';

/** Per service port object: its view for each family (null: the service has no cluster IP of it). */
const views = new WeakMap<ServicePortState, Map<string, ServicePortState | null>>();

/** Per snapshot: its view for each family (snapshots are immutable). */
const stateViews = new WeakMap<ProxyState, Map<IPFamily, ProxyState>>();

function endpointsOf(endpoints: readonly Endpoint[], family: IPFamily): readonly Endpoint[] {
  const v6 = family === 'IPv6';
  for (const e of endpoints)
    if (e.ip.includes(':') !== v6) return endpoints.filter((x) => x.ip.includes(':') === v6);
  return endpoints;
}

/**
 * One service port as a proxier of `family` sees it.
 *
 * @param port the service port (both families)
 * @param family the family
 * @param node this node's name and zone (topology hints)
 * @returns the view, or undefined when the service has no cluster IP of the family
 * @example servicePortForFamily(port, 'IPv6', { nodeName: 'node-a', zone: undefined })?.clusterIPs
 */
export function servicePortForFamily(
  port: ServicePortState,
  family: IPFamily,
  node: { readonly nodeName: string; readonly zone: string | undefined },
): ServicePortState | undefined {
  let cached = views.get(port);
  const cacheKey = `${family}\u0000${node.nodeName}\u0000${node.zone ?? ''}`;
  const hit = cached?.get(cacheKey);
  if (hit !== undefined) return hit ?? undefined;
  const view = computeView(port, family, node);
  if (cached === undefined) {
    cached = new Map();
    views.set(port, cached);
  }
  cached.set(cacheKey, view ?? null);
  return view;
}

function computeView(
  port: ServicePortState,
  family: IPFamily,
  node: { readonly nodeName: string; readonly zone: string | undefined },
): ServicePortState | undefined {
  const clusterIPs = ofFamily(port.clusterIPs, family);
  if (clusterIPs.length === 0) return undefined;
  const externalIPs = ofFamily(port.externalIPs, family);
  const loadBalancerIPs = ofFamily(port.loadBalancerIPs, family);
  const loadBalancerSourceRanges = ofFamily(port.loadBalancerSourceRanges, family);
  const allEndpoints = endpointsOf(port.allEndpoints, family);
  const ipFamilies = port.ipFamilies.filter((f) => f === family);
  if (
    clusterIPs === port.clusterIPs &&
    externalIPs === port.externalIPs &&
    loadBalancerIPs === port.loadBalancerIPs &&
    loadBalancerSourceRanges === port.loadBalancerSourceRanges &&
    allEndpoints === port.allEndpoints &&
    ipFamilies.length === port.ipFamilies.length
  ) {
    return port;
  }
  const selection =
    allEndpoints === port.allEndpoints
      ? port
      : selectEndpoints(
          allEndpoints,
          { internal: port.internalTrafficPolicy, external: port.externalTrafficPolicy },
          node,
        );
  return {
    ...port,
    clusterIPs,
    ipFamilies,
    externalIPs,
    loadBalancerIPs,
    loadBalancerSourceRanges,
    allEndpoints,
    topology: selection.topology,
    clusterEndpoints: selection.clusterEndpoints,
    localEndpoints: selection.localEndpoints,
    internalEndpoints: selection.internalEndpoints,
    externalEndpoints: selection.externalEndpoints,
  };
}

/**
 * The state as the proxier of one family sees it (see the module comment). A view of a view of the same
 * family is itself; a view of the other family is empty.
 *
 * @param state a snapshot (both families) or a view
 * @param family the family
 * @returns the view, with {@link ProxyState.ipFamily} set
 * @example familyView(state, 'IPv6').servicePorts.size
 */
export function familyView(state: ProxyState, family: IPFamily): ProxyState {
  if (state.ipFamily === family) return state;
  let cached = stateViews.get(state);
  const hit = cached?.get(family);
  if (hit !== undefined) return hit;
  const node = { nodeName: state.nodeName, zone: state.nodeZone };
  const servicePorts = new Map<ServicePortKey, ServicePortState>();
  if (state.ipFamily === undefined) {
    for (const [key, port] of state.servicePorts) {
      const view = servicePortForFamily(port, family, node);
      if (view !== undefined) servicePorts.set(key, view);
    }
  }
  const view: ProxyState = { ...state, servicePorts, ipFamily: family };
  if (cached === undefined) {
    cached = new Map();
    stateViews.set(state, cached);
  }
  cached.set(family, view);
  return view;
}
