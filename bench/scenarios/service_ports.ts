/**
 * Service ports built directly as the model's values, for the benchmarks that hand a state straight to a
 * mode's plan or Proxier (no manifests, no tracker): plain ClusterIP TCP ports whose endpoints are all
 * ready and remote, so that every endpoint list but the node-local one is the same.
 *
 * @module
 */
import type { PlanOptions } from '../../src/contracts/plan_options.ts';
import {
  type Endpoint,
  type ProxyState,
  type ServicePortState,
  servicePortKey,
} from '../../src/model/types.ts';

/**
 * A ready endpoint on no particular node.
 *
 * @param address `ip:port` (an IPv6 address in brackets)
 * @returns the endpoint
 * @example remoteEndpoint('198.18.101.2:8080')
 */
export function remoteEndpoint(address: string): Endpoint {
  const colon = address.lastIndexOf(':');
  return {
    ip: address.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(colon + 1)),
    ready: true,
    serving: true,
    terminating: false,
    nodeName: undefined,
    zone: undefined,
    isLocal: false,
  };
}

/** What {@link clusterIpServicePort} takes. */
export interface ClusterIpPortSpec {
  /** Default `default`. */
  readonly namespace?: string | undefined;
  readonly serviceName: string;
  /** Default `http`. */
  readonly portName?: string | undefined;
  readonly clusterIPs: readonly string[];
  /** Default none. */
  readonly externalIPs?: readonly string[] | undefined;
  readonly port: number;
  readonly endpoints: readonly Endpoint[];
}

/**
 * A ClusterIP TCP service port with no affinity, Cluster traffic policies, and these endpoints for every
 * kind of traffic (none of them local).
 *
 * @param spec names, addresses, port and endpoints
 * @returns the service port, keyed as the tracker keys it
 * @example clusterIpServicePort({ serviceName: 'web', clusterIPs: ['198.19.0.10'], port: 80, endpoints: [remoteEndpoint('198.18.101.2:8080')] })
 */
export function clusterIpServicePort(spec: ClusterIpPortSpec): ServicePortState {
  const namespace = spec.namespace ?? 'default';
  const portName = spec.portName ?? 'http';
  return {
    key: servicePortKey(namespace, spec.serviceName, portName, 'TCP'),
    namespace,
    serviceName: spec.serviceName,
    portName,
    protocol: 'TCP',
    type: 'ClusterIP',
    port: spec.port,
    nodePort: 0,
    clusterIPs: spec.clusterIPs,
    ipFamilies: ['IPv4'],
    externalIPs: spec.externalIPs ?? [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    annotations: {},
    allEndpoints: spec.endpoints,
    clusterEndpoints: spec.endpoints,
    localEndpoints: [],
    internalEndpoints: spec.endpoints,
    externalEndpoints: spec.endpoints,
  };
}

/**
 * A proxy state holding these service ports in key order, as the tracker hands it out.
 *
 * @param ports the service ports
 * @param nodeName the node the state is for
 * @returns version 1
 * @example sortedProxyState([clusterIpServicePort(spec)], 'bench-node')
 */
export function sortedProxyState(ports: readonly ServicePortState[], nodeName: string): ProxyState {
  const sorted = [...ports].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { version: 1, nodeName, servicePorts: new Map(sorted.map((p) => [p.key, p])) };
}

/**
 * Plan options with kproxy's defaults (no cluster CIDR, masquerade bit 14, rr, random proxy ports, UDP
 * idle 250 ms) for a node.
 *
 * @param node the node's name and addresses
 * @param overrides what the benchmark sets (e.g. the userspace relay engine)
 * @returns the options
 * @example benchPlanOptions({ nodeName: 'bench-node', nodeIPs: ['198.18.0.1'] }, { userspacePortals: 'on' })
 */
export function benchPlanOptions(
  node: { readonly nodeName: string; readonly nodeIPs: readonly string[] },
  overrides: Partial<PlanOptions> = {},
): PlanOptions {
  return {
    nodeName: node.nodeName,
    nodeIPs: node.nodeIPs,
    clusterCIDRs: [],
    masqueradeAll: false,
    masqueradeBit: 14,
    ipvsScheduler: 'rr',
    nodePortAddresses: [],
    proxyPortRange: undefined,
    udpIdleTimeoutMs: 250,
    ...overrides,
  };
}
