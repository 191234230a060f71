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

/** The node's IPv6 address in the dual-stack fixture. */
export const NODE_IP6 = '2001:2::100';

/**
 * A second slice of `svc`'s first port with IPv6 endpoints (`-2`, addressType IPv6), for dual-stack states.
 *
 * @param svc the service
 * @param ips IPv6 endpoint addresses
 * @param options `local` ones are on node-a; `port` (default 8080)
 * @returns the slice
 * @example endpoints6(web, ['2001:2:0:1::1'])
 */
export function endpoints6(
  svc: ServiceSpec,
  ips: readonly string[],
  options: { local?: readonly string[]; port?: number } = {},
): EndpointSliceSpec {
  return { ...endpoints(svc, ips, options), name: `${svc.name}-2`, addressType: 'IPv6' };
}

/**
 * A dual-stack state with one Service per case the issue names (VIPs 198.18.0.x and 2001:2:0:f::x, pods
 * 198.19.1.x and 2001:2:0:1::x, node 198.18.0.100 and 2001:2::100):
 * `web` dual-stack ClusterIP; `sticky6` IPv6-only with ClientIP affinity; `empty6` IPv6-only without
 * endpoints; `np` dual-stack NodePort 30080 (one endpoint local, Local traffic policy); `lb` dual-stack
 * LoadBalancer with source ranges and external IPs of both families; `v4only` IPv4-only; `dns` dual-stack UDP.
 *
 * @returns the state and the plan options of both families
 * @example const { state, options } = dualStackFixture(); planIpvs(familyView(state, 'IPv6'), planOptionsForFamily(options, 'IPv6'))
 */
export function dualStackFixture(): { state: ProxyState; options: PlanOptions } {
  const dual = { ipFamilies: ['IPv4', 'IPv6'] as const };
  const web = service('web', { ...dual, clusterIPs: ['198.18.0.10', '2001:2:0:f::10'] });
  const sticky6 = service('sticky6', {
    clusterIPs: ['2001:2:0:f::11'],
    ipFamilies: ['IPv6'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
  });
  const empty6 = service('empty6', { clusterIPs: ['2001:2:0:f::12'], ipFamilies: ['IPv6'] });
  const np = service('np', {
    ...dual,
    type: 'NodePort',
    clusterIPs: ['198.18.0.13', '2001:2:0:f::13'],
    externalTrafficPolicy: 'Local',
    ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  });
  const lb = service('lb', {
    ...dual,
    type: 'LoadBalancer',
    clusterIPs: ['198.18.0.14', '2001:2:0:f::14'],
    externalIPs: ['198.18.0.201', '2001:2:0:f::201'],
    loadBalancerIPs: ['198.18.0.200', '2001:2:0:f::200'],
    loadBalancerSourceRanges: ['198.18.5.0/24', '2001:2:0:c0::/64', '::/0'],
    ports: [{ name: 'p', protocol: 'TCP', port: 443, targetPort: 8443, nodePort: 30443 }],
  });
  const v4only = service('v4only', { clusterIPs: ['198.18.0.20'] });
  const dns = service('dns', {
    ...dual,
    clusterIPs: ['198.18.0.53', '2001:2:0:f::53'],
    ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 0 }],
  });
  const state = stateOf([
    [web, endpoints(web, ['198.19.1.1', '198.19.1.2']), endpoints6(web, ['2001:2:0:1::1', '2001:2:0:1::2'])],
    [sticky6, endpoints6(sticky6, ['2001:2:0:1::1', '2001:2:0:1::2', '2001:2:0:1::3'])],
    [empty6],
    [
      np,
      endpoints(np, ['198.19.1.1', '198.19.1.11'], { local: ['198.19.1.11'] }),
      endpoints6(np, ['2001:2:0:1::1', '2001:2:0:1::11'], { local: ['2001:2:0:1::11'] }),
    ],
    [lb, endpoints(lb, ['198.19.1.3'], { port: 8443 }), endpoints6(lb, ['2001:2:0:1::3'], { port: 8443 })],
    [v4only, endpoints(v4only, ['198.19.1.4'])],
    [dns, endpoints(dns, ['198.19.1.5'], { port: 5353 }), endpoints6(dns, ['2001:2:0:1::5'], { port: 5353 })],
  ]);
  const options = planOptions({
    nodeIPs: ['198.18.0.100', NODE_IP6],
    clusterCIDRs: ['198.19.0.0/16', '2001:2:0:1::/64'],
  });
  return { state, options };
}
