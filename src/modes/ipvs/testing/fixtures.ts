/**
 * Test fixtures of the ipvs mode: states built through the tracker's own service-port builder from compact
 * service and endpoint descriptions (over the shared builders of src/model/testing/fixtures.ts), in the
 * 198.18.0.0/15 test range.
 *
 * Addresses: VIPs 198.18.0.0/24, node 198.18.0.100 (NODE_IP), pods 198.19.1.0/24 (198.19.1.1x on this node).
 *
 * @module
 */
import pino from 'pino';
import type { PlanOptions } from '../../../contracts/plan_options.ts';
import {
  endpointAddress,
  endpointSliceSpec,
  NODE_NAME,
  planOptions,
  proxyState,
  servicePortSpec,
  serviceSpec,
  stateChange,
} from '../../../model/testing/fixtures.ts';
import type { EndpointSliceSpec, ProxyState, ServiceSpec, StateChange } from '../../../model/types.ts';
import { buildServicePorts } from '../../../tracker/service_port_builder.ts';
import type { ProxierDeps } from '../../mode.ts';

/** A ClusterIP service `default/NAME` on 198.18.0.10 with one port `p` (TCP 80 → 8080). */
export function service(name: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return serviceSpec({
    name,
    clusterIPs: ['198.18.0.10'],
    ports: [servicePortSpec({ name: 'p' })],
    ...overrides,
  });
}

/** A slice of ready endpoints for the service's first port; `local` ones are on node-a. */
export function endpoints(
  svc: ServiceSpec,
  ips: readonly string[],
  options: { local?: readonly string[]; port?: number; terminating?: readonly string[] } = {},
): EndpointSliceSpec {
  const first = svc.ports[0]!;
  return endpointSliceSpec({
    namespace: svc.namespace,
    name: `${svc.name}-1`,
    serviceName: svc.name,
    ports: [{ name: first.name, protocol: first.protocol, port: options.port ?? 8080 }],
    endpoints: ips.map((ip) => {
      const terminating = (options.terminating ?? []).includes(ip);
      return endpointAddress(ip, {
        ready: !terminating,
        terminating,
        nodeName: (options.local ?? []).includes(ip) ? NODE_NAME : 'node-b',
      });
    }),
  });
}

/** A state of the given services with their slices, seen from node-a. */
export function stateOf(
  entries: readonly (readonly [ServiceSpec, ...EndpointSliceSpec[]])[],
  version = 1,
): ProxyState {
  const ports = entries.flatMap(([svc, ...slices]) => buildServicePorts(svc, slices, NODE_NAME));
  return proxyState(ports, { version });
}

/** A change naming every service port of the state. */
export function changeOf(state: ProxyState): StateChange {
  return stateChange({ changed: new Set(state.servicePorts.keys()), serviceEvents: 1, endpointEvents: 1 });
}

/** Proxier deps over an exec, with a silent logger. */
export function proxierDeps(exec: ProxierDeps['exec'], options: PlanOptions = planOptions()): ProxierDeps {
  return { options, exec, logger: pino({ level: 'silent' }), iptablesBackend: 'auto' };
}
