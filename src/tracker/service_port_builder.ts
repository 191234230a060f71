/**
 * Builds the {@link ServicePortState}s of one service from its spec and its endpoint slices: matches
 * slice ports to service ports, deduplicates endpoints, sorts them and applies the endpoint selection.
 *
 * @module
 */
import { isIPv4 } from 'node:net';
import {
  type Endpoint,
  type EndpointSliceSpec,
  type ServicePortSpec,
  type ServicePortState,
  type ServiceSpec,
  servicePortKey,
} from '../model/types.ts';
import { selectEndpoints } from './endpoint_selection.ts';

/**
 * Finds the port number a slice gives for a service port: by the service port's name, as upstream does
 * (the EndpointSlice controller names slice ports after service ports); failing that, by a named
 * targetPort, so that hand-written slices naming the container port work too.
 */
function slicePortFor(slice: EndpointSliceSpec, port: ServicePortSpec): number | undefined {
  const byName = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
  if (byName !== undefined) return byName.port;
  if (typeof port.targetPort === 'string') {
    const byTarget = slice.ports.find((p) => p.name === port.targetPort && p.protocol === port.protocol);
    if (byTarget !== undefined) return byTarget.port;
  }
  return undefined;
}

/** Orders endpoints by address (numerically for IPv4), then port, so plans are stable and readable. */
export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.ip !== b.ip) {
    if (isIPv4(a.ip) && isIPv4(b.ip)) return ipv4Number(a.ip) - ipv4Number(b.ip);
    return a.ip < b.ip ? -1 : 1;
  }
  return a.port - b.port;
}

function ipv4Number(ip: string): number {
  let n = 0;
  for (const part of ip.split('.')) n = n * 256 + Number(part);
  return n;
}

/** A ready endpoint wins over a not-ready duplicate of the same address (from two slices). */
function better(a: Endpoint, b: Endpoint): Endpoint {
  if (a.ready !== b.ready) return a.ready ? a : b;
  if (a.serving !== b.serving) return a.serving ? a : b;
  return a;
}

/**
 * The service ports of one service, with their endpoints as seen from `nodeName`.
 *
 * @param service the validated service
 * @param slices its endpoint slices; legacy Endpoints are used only when no real slice exists
 * @param nodeName this proxy's node, for locality
 * @returns one state per service port, in spec order
 * @example buildServicePorts(svc, slices, 'node-a').map((p) => p.key)
 */
export function buildServicePorts(
  service: ServiceSpec,
  slices: readonly EndpointSliceSpec[],
  nodeName: string,
): ServicePortState[] {
  const modern = slices.filter((s) => !s.legacy);
  const used = modern.length > 0 ? modern : slices;
  return service.ports.map((port) => {
    const byAddress = new Map<string, Endpoint>();
    for (const slice of used) {
      const number = slicePortFor(slice, port);
      if (number === undefined) continue;
      for (const address of slice.endpoints) {
        for (const ip of address.addresses) {
          const endpoint: Endpoint = {
            ip,
            port: number,
            ready: address.ready,
            serving: address.serving,
            terminating: address.terminating,
            nodeName: address.nodeName,
            zone: address.zone,
            isLocal: address.nodeName !== undefined && address.nodeName === nodeName,
          };
          const id = `${ip}|${number}`;
          const seen = byAddress.get(id);
          byAddress.set(id, seen === undefined ? endpoint : better(seen, endpoint));
        }
      }
    }
    const allEndpoints = [...byAddress.values()].sort(compareEndpoints);
    const selection = selectEndpoints(allEndpoints, {
      internal: service.internalTrafficPolicy,
      external: service.externalTrafficPolicy,
    });
    return {
      key: servicePortKey(service.namespace, service.name, port.name, port.protocol),
      namespace: service.namespace,
      serviceName: service.name,
      portName: port.name,
      protocol: port.protocol,
      type: service.type,
      port: port.port,
      nodePort: port.nodePort,
      clusterIPs: service.clusterIPs,
      ipFamilies: service.ipFamilies,
      externalIPs: service.externalIPs,
      loadBalancerIPs: service.loadBalancerIPs,
      loadBalancerSourceRanges: service.loadBalancerSourceRanges,
      sessionAffinity: service.sessionAffinity,
      externalTrafficPolicy: service.externalTrafficPolicy,
      internalTrafficPolicy: service.internalTrafficPolicy,
      healthCheckNodePort: service.healthCheckNodePort,
      annotations: service.annotations,
      allEndpoints,
      ...selection,
    };
  });
}
