/**
 * Builders of model values for tests: each returns a complete, valid value with plain defaults, and a
 * test passes only what its case is about (`serviceSpec({ type: 'NodePort' })`). Values are plain data,
 * exactly what the sources, the tracker and the daemon hand around; nothing here selects endpoints or
 * validates (tests that need that use the real functions on top of these).
 *
 * Defaults (all in the 198.18.0.0/15 test range): service `default/web`, cluster IP 198.18.100.1, one
 * TCP port `http` 80 → 8080; endpoints 198.18.1.1:8080 on node-b; this proxy is node-a at 198.18.0.100.
 *
 * @module
 */
import type { PlanOptions } from '../../contracts/plan_options.ts';
import { EMPTY_CHANGE } from '../state_change.ts';
import {
  type Endpoint,
  type EndpointAddressSpec,
  type EndpointSliceSpec,
  type ProxyState,
  type ServicePortSpec,
  type ServicePortState,
  type ServiceSpec,
  type StateChange,
  servicePortKey,
} from '../types.ts';

/** The node this proxy runs for. */
export const NODE_NAME = 'node-a';
/** The proxy node's address. */
export const NODE_IP = '198.18.0.100';

/**
 * A Service port.
 *
 * @param overrides what the case is about
 * @returns `http` TCP 80 → 8080, no node port, with the overrides
 * @example servicePortSpec({ name: '', targetPort: 80 })
 */
export function servicePortSpec(overrides: Partial<ServicePortSpec> = {}): ServicePortSpec {
  return { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 0, ...overrides };
}

/**
 * A validated Service.
 *
 * @param overrides what the case is about
 * @returns the ClusterIP service `default/web` (198.18.100.1, one {@link servicePortSpec}), with the overrides
 * @example serviceSpec({ type: 'NodePort', ports: [servicePortSpec({ nodePort: 30080 })] })
 */
export function serviceSpec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    namespace: 'default',
    name: 'web',
    type: 'ClusterIP',
    clusterIPs: ['198.18.100.1'],
    ipFamilies: ['IPv4'],
    ports: [servicePortSpec()],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    annotations: {},
    trafficDistribution: undefined,
    ...overrides,
  };
}

/**
 * One endpoint of an EndpointSlice.
 *
 * @param ip its address
 * @param overrides its conditions and location
 * @returns a ready, serving endpoint on node-b, with the overrides
 * @example endpointAddress('198.18.1.2', { nodeName: 'node-a' })
 */
export function endpointAddress(
  ip: string,
  overrides: Partial<EndpointAddressSpec> = {},
): EndpointAddressSpec {
  return {
    addresses: [ip],
    ready: true,
    serving: true,
    terminating: false,
    nodeName: 'node-b',
    zone: undefined,
    hostname: undefined,
    zoneHints: [],
    nodeHints: [],
    ...overrides,
  };
}

/**
 * A validated EndpointSlice.
 *
 * @param overrides what the case is about (usually `endpoints`)
 * @returns the IPv4 slice `default/web-abc` of service web with port `http` TCP 8080, with the overrides
 * @example endpointSliceSpec({ endpoints: [endpointAddress('198.18.1.1')] })
 */
export function endpointSliceSpec(overrides: Partial<EndpointSliceSpec> = {}): EndpointSliceSpec {
  return {
    namespace: 'default',
    name: 'web-abc',
    serviceName: 'web',
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: [],
    legacy: false,
    ...overrides,
  };
}

/**
 * One endpoint of a service port, as the tracker hands it to the modes.
 *
 * @param overrides what the case is about
 * @returns ready 198.18.1.1:8080 on node-b (not local), with the overrides
 * @example endpoint({ nodeName: NODE_NAME, isLocal: true })
 */
export function endpoint(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    ip: '198.18.1.1',
    port: 8080,
    ready: true,
    serving: true,
    terminating: false,
    nodeName: 'node-b',
    zone: undefined,
    isLocal: false,
    zoneHints: [],
    nodeHints: [],
    ...overrides,
  };
}

/**
 * One endpoint of a service port at an `ip:port` address, for tests and benchmarks that name their
 * backends by address.
 *
 * @param address `ip:port` (an IPv6 address in brackets)
 * @param overrides its conditions and location
 * @returns a ready endpoint at that address on no particular node (not local), with the overrides
 * @example endpointAt('[fd00::2]:80', { ready: false })
 */
export function endpointAt(address: string, overrides: Partial<Endpoint> = {}): Endpoint {
  const colon = address.lastIndexOf(':');
  return endpoint({
    ip: address.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(colon + 1)),
    nodeName: undefined,
    ...overrides,
  });
}

/**
 * One service port of a proxy state. Endpoint lists are taken as given (no selection: a test that wants
 * the tracker's selection runs it); the key follows namespace, name, port name and protocol unless given.
 *
 * @param overrides what the case is about
 * @returns the ClusterIP port `default/web:/TCP` 80 on 198.18.100.1 without endpoints (topology: no
 *   hints), with the overrides
 * @example servicePortState({ type: 'NodePort', nodePort: 30080, allEndpoints: [endpoint()] })
 */
export function servicePortState(overrides: Partial<ServicePortState> = {}): ServicePortState {
  // A service port carries its service's fields: the defaults are those of serviceSpec's.
  const { name, ports: _ports, ...service } = serviceSpec();
  const port: Omit<ServicePortState, 'key'> & { key?: string } = {
    ...service,
    serviceName: name,
    portName: '',
    protocol: 'TCP',
    port: 80,
    nodePort: 0,
    allEndpoints: [],
    clusterEndpoints: [],
    localEndpoints: [],
    internalEndpoints: [],
    externalEndpoints: [],
    topology: { mode: undefined, reason: 'no hints' },
    ...overrides,
  };
  const key = overrides.key ?? servicePortKey(port.namespace, port.serviceName, port.portName, port.protocol);
  return { ...port, key };
}

/**
 * A proxy state holding these service ports, in key order (as the tracker hands it out).
 *
 * @param ports the service ports
 * @param overrides version and node name
 * @returns version 1 for node-a, with the overrides
 * @example proxyState([servicePortState()], { version: 2 })
 */
export function proxyState(
  ports: readonly ServicePortState[],
  overrides: Partial<Omit<ProxyState, 'servicePorts'>> = {},
): ProxyState {
  const sorted = [...ports].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    version: 1,
    nodeName: NODE_NAME,
    ...overrides,
    servicePorts: new Map(sorted.map((p) => [p.key, p])),
  };
}

/**
 * What changed between two states.
 *
 * @param overrides what the case is about
 * @returns no change and no events, with the overrides
 * @example stateChange({ changed: new Set(['default/web:http/TCP']), endpointEvents: 1 })
 */
export function stateChange(overrides: Partial<StateChange> = {}): StateChange {
  return { ...EMPTY_CHANGE, ...overrides };
}

/**
 * The flags that shape a plan.
 *
 * @param overrides what the case is about
 * @returns node-a at 198.18.0.100, no cluster CIDR, masquerade bit 14, rr, with the overrides
 * @example planOptions({ masqueradeAll: true })
 */
export function planOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return {
    nodeName: NODE_NAME,
    nodeIPs: [NODE_IP],
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
