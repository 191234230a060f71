/**
 * Test fixtures of the ipvs mode: states built through the tracker's own service-port builder from compact
 * service and endpoint descriptions, in the 198.18.0.0/15 test range.
 *
 * Addresses: VIPs 198.18.0.0/24, node 198.18.0.100, pods 198.19.1.0/24 (198.19.1.1x on this node).
 *
 * @module
 */
import pino from 'pino';
import type {
  EndpointSliceSpec,
  ProxyState,
  ServicePortState,
  ServiceSpec,
  StateChange,
} from '../../model/types.ts';
import { buildServicePorts } from '../../tracker/service_port_builder.ts';
import type { PlanOptions, ProxierDeps } from '../mode.ts';

/** The node of the fixtures. */
export const NODE_IP = '198.18.0.100';

/** Plan options with the fixtures' node. */
export function planOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return {
    nodeName: 'node-a',
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

/** A ClusterIP service `default/NAME` with one port `p` (TCP 80 → 8080). */
export function service(name: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    namespace: 'default',
    name,
    type: 'ClusterIP',
    clusterIPs: ['198.18.0.10'],
    ipFamilies: ['IPv4'],
    ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 0 }],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    annotations: {},
    ...overrides,
  };
}

/** A slice of ready endpoints for the service's first port; `local` ones are on node-a. */
export function endpoints(
  svc: ServiceSpec,
  ips: readonly string[],
  options: { local?: readonly string[]; port?: number; terminating?: readonly string[] } = {},
): EndpointSliceSpec {
  const first = svc.ports[0]!;
  return {
    namespace: svc.namespace,
    name: `${svc.name}-1`,
    serviceName: svc.name,
    addressType: 'IPv4',
    ports: [{ name: first.name, protocol: first.protocol, port: options.port ?? 8080 }],
    endpoints: ips.map((ip) => ({
      addresses: [ip],
      ready: !(options.terminating ?? []).includes(ip),
      serving: true,
      terminating: (options.terminating ?? []).includes(ip),
      nodeName: (options.local ?? []).includes(ip) ? 'node-a' : 'node-b',
      zone: undefined,
      hostname: undefined,
    })),
    legacy: false,
  };
}

/** A state of the given services with their slices, seen from node-a. */
export function stateOf(
  entries: readonly (readonly [ServiceSpec, ...EndpointSliceSpec[]])[],
  version = 1,
): ProxyState {
  const ports: ServicePortState[] = entries.flatMap(([svc, ...slices]) =>
    buildServicePorts(svc, slices, 'node-a'),
  );
  ports.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { version, nodeName: 'node-a', servicePorts: new Map(ports.map((p) => [p.key, p])) };
}

/** A change naming every service port of the state. */
export function changeOf(state: ProxyState): StateChange {
  return {
    changed: new Set(state.servicePorts.keys()),
    removed: new Set(),
    firstSeen: new Map(),
    serviceEvents: 1,
    endpointEvents: 1,
  };
}

/** Proxier deps over an exec, with a silent logger. */
export function proxierDeps(exec: ProxierDeps['exec'], options: PlanOptions = planOptions()): ProxierDeps {
  return { options, exec, logger: pino({ level: 'silent' }), iptablesBackend: 'auto' };
}
